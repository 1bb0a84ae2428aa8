// A node's first boot (`ppn join`): keep an identity key; find the authority — by its beacon on
// the underlay when one is pinned, else (or when no beacon comes within the scan window) by
// waiting for an admin's claim; then ask to join until the authority grants it a membership,
// which is written to membership.json for `ppn run`. Nothing here needs DNS or DHCP.
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { basename, join } from 'node:path';
import { nodeAddress } from '../fleet/addresses.js';
import { isName } from '../fleet/names.js';
import { ensureInstanceDir, loadSecret } from '../membership/instance-files.js';
import { loadMembership, MEMBERSHIP_FILE, saveMembership, type Membership } from '../membership/membership.js';
import { formatKey, parseKey, publicKeyOf } from '../keys/index.js';
import { logSampler } from '../log-sampler.js';
import { formatEndpoint, parseEndpoint, type Endpoint } from '../underlay/endpoint.js';
import {
  dropEnrolmentToken, loadEnrolmentToken, loadGenesisState, loadPinnedAuthority, pinAuthority, saveGenesisState, type PinnedAuthority,
} from './authority-pin.js';
import { createBeaconChecker, type BeaconReject } from './beacon.js';
import { listenForClaim } from './claim.js';
import { formatCode, newCode } from './code.js';
import { JOIN_PATH, JoinAnswerError, joinKeys, MAC_HEADER, newNonce, openAnswer, sealRequest, sealToken, type JoinAnswer } from './join.js';

export const WIREGUARD_PORT = 51820;

export interface JoinOptions {
  instanceDir: string;
  name?: string;
  role: string;
  /** The node's WireGuard endpoint on the underlay; default: the address it reaches the join endpoint from, port 51820. */
  listen?: string;
  scanWindowMs: number;
  beaconPort: number;
  beaconFreshnessMs: number;
  claimListen: Endpoint;
  /** The authority's join endpoint, when known (--authority-endpoint, else the bundle's): join outbound, no beacon or claim. */
  authorityEndpoint?: Endpoint;
  /** Pause between join requests while pending or while the endpoint does not answer. */
  pollMs: number;
  /** Give up after this long in the join phase (undefined: never). */
  joinTimeoutMs?: number;
  /** Human-readable progress, a line at a time. */
  say(line: string): void;
}

/** Refusals of untrusted input (claims) said per reason and minute; the rest are only counted. */
const REJECT_LOGS_PER_MINUTE = 5;

export class JoinRefusedError extends Error {
  override name = 'JoinRefusedError';
}

/** The node name a directory suggests, if it makes a valid one. */
export function defaultName(instanceDir: string): string | undefined {
  const name = basename(instanceDir).toLowerCase().replace(/[^a-z0-9-]+/g, '-');
  return isName(name) ? name : undefined;
}

interface Found {
  joinEndpoint: Endpoint;
  /** Authority time minus ours, ms, as last seen. */
  offset: number;
}

export async function joinMesh(o: JoinOptions): Promise<{ membership: Membership; alreadyJoined: boolean }> {
  ensureInstanceDir(o.instanceDir);
  const secret = loadSecret(o.instanceDir, 'identity.key', true);
  const publicKey = formatKey(publicKeyOf(secret));
  if (existsSync(join(o.instanceDir, MEMBERSHIP_FILE))) return { membership: loadMembership(o.instanceDir), alreadyJoined: true };
  const name = o.name ?? defaultName(o.instanceDir);
  if (!name) throw new JoinRefusedError(`'${basename(o.instanceDir)}' makes no valid node name: give --name`);
  o.say(`identity ${publicKey} (${join(o.instanceDir, 'identity.key')}, 0600)`);

  let pinned = loadPinnedAuthority(o.instanceDir);
  const stored = loadGenesisState(o.instanceDir).joinEndpoint;
  const direct = o.authorityEndpoint ?? (stored === undefined ? undefined : parseEndpoint(stored, 'the bundle\'s join endpoint'));
  if (direct && !pinned) throw new JoinRefusedError('a join endpoint needs a pinned authority (ppn provision --authority FILE): the endpoint alone proves nothing');
  if (direct) o.say(`joining the authority at ${formatEndpoint(direct)} directly (outbound; no beacon or claim needed)`);
  // No beacon: our clock is taken as right; a stale refusal carries the authority's time.
  let found = direct ? { joinEndpoint: direct, offset: 0 } : pinned ? await scanForBeacon(o, pinned) : undefined;
  if (!pinned) o.say('no authority pinned (no provisioning bundle): only an admin claim can establish it');
  if (!found) {
    const claimed = await awaitClaim(o, publicKey, pinned);
    pinned = claimed.authority;
    found = claimed.found;
  }
  return { membership: await requestJoin(o, secret, publicKey, name, pinned!, found), alreadyJoined: false };
}

async function scanForBeacon(o: JoinOptions, pinned: PinnedAuthority): Promise<Found | undefined> {
  const state = loadGenesisState(o.instanceDir);
  const checker = createBeaconChecker({ authorityKey: parseKey(pinned.genesisKey), freshnessMs: o.beaconFreshnessMs, lastAccepted: state.lastBeaconAt, now: Date.now });
  const socket = createSocket({ type: 'udp4', reuseAddr: true });
  o.say(`listening for the authority's beacon on UDP ${o.beaconPort} for ${Math.round(o.scanWindowMs / 1000)} s`);
  const found = await new Promise<Found | undefined>((resolve, reject) => {
    const timer = setTimeout(() => resolve(undefined), o.scanWindowMs);
    socket.once('error', (err) => (clearTimeout(timer), reject(new Error(`cannot listen for beacons on UDP ${o.beaconPort}: ${(err as NodeJS.ErrnoException).code ?? err.message}`))));
    socket.on('message', (datagram, from) => {
      const result = checker.check(datagram);
      // The first of each kind is shown; all are counted and summed up at the end.
      if (!result.ok) return checker.rejected[result.reason] === 1 && o.say(`beacon ignored (${result.reason}) from ${from.address}:${from.port}`);
      clearTimeout(timer);
      saveGenesisState(o.instanceDir, { lastBeaconAt: result.at });
      o.say(`beacon from the authority at ${from.address}: join endpoint ${formatEndpoint(result.joinEndpoint)}`);
      resolve({ joinEndpoint: result.joinEndpoint, offset: result.at - Date.now() });
    });
    socket.bind(o.beaconPort, '0.0.0.0');
  }).finally(() => socket.close());
  const ignored = Object.entries(checker.rejected).filter(([, n]) => n > 0) as [BeaconReject, number][];
  if (ignored.length) o.say(`beacons ignored: ${ignored.map(([r, n]) => `${r} ${n}`).join(', ')}`);
  if (!found) o.say(`no beacon from the pinned authority within ${Math.round(o.scanWindowMs / 1000)} s`);
  return found;
}

async function awaitClaim(o: JoinOptions, publicKey: string, pinned: PinnedAuthority | undefined): Promise<{ authority: PinnedAuthority; found: Found }> {
  const code = newCode();
  const sampled = logSampler(REJECT_LOGS_PER_MINUTE);
  const listener = await listenForClaim({
    host: o.claimListen.host,
    port: o.claimListen.port,
    code,
    nodePublicKey: publicKey,
    pinned,
    // Counted always (listener.rejected); said at most a few times a minute per reason, so strangers cannot flood the log.
    onReject: (reason, from, detail) => sampled.allow(reason) && o.say(`claim from ${from} rejected (${reason}): ${detail}`),
  });
  o.say(`self-genesis: waiting for an admin's claim on TCP ${o.claimListen.host}:${listener.port}`);
  o.say(`claim code: ${formatCode(code)}`);
  o.say(`on the admin: ppn claim <this node's address>:${listener.port} --code ${formatCode(code)}`);
  const claim = await listener.claimed;
  const rejected = Object.values(listener.rejected).reduce((a, b) => a + b, 0);
  pinAuthority(o.instanceDir, claim.authority);
  o.say(`claimed by the authority (genesis key ${claim.authority.genesisKey})${rejected ? `; ${rejected} claim attempt(s) were refused before (wrong, malformed, idle or too many)` : ''}`);
  return { authority: claim.authority, found: { joinEndpoint: parseEndpoint(claim.joinEndpoint, 'join endpoint'), offset: claim.at - Date.now() } };
}

interface HttpAnswer {
  status: number;
  mac: string | undefined;
  body: Buffer;
}

function post(endpoint: Endpoint, body: Buffer, mac: string): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: endpoint.host, port: endpoint.port, path: JOIN_PATH, method: 'POST', timeout: 10_000, headers: { 'content-type': 'application/json', [MAC_HEADER]: mac, 'content-length': body.length } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const header = res.headers[MAC_HEADER];
          resolve({ status: res.statusCode ?? 0, mac: typeof header === 'string' ? header : undefined, body: Buffer.concat(chunks) });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', reject);
    req.end(body);
  });
}

/** The address this machine reaches `endpoint` from (what the kernel's routing picks), via a UDP connect. */
function localAddressToward(endpoint: Endpoint): Promise<string> {
  const socket = createSocket('udp4');
  return new Promise<string>((resolve, reject) => {
    socket.once('error', reject);
    socket.connect(endpoint.port, endpoint.host, () => resolve(socket.address().address));
  }).finally(() => socket.close());
}

async function requestJoin(o: JoinOptions, secret: Buffer, publicKey: string, name: string, pinned: PinnedAuthority, found: Found): Promise<Membership> {
  const keys = joinKeys(secret, parseKey(pinned.commandPublicKey));
  const token = loadEnrolmentToken(o.instanceDir);
  const listen = o.listen ?? `${await localAddressToward(found.joinEndpoint)}:${WIREGUARD_PORT}`;
  parseEndpoint(listen, 'listen');
  const deadline = o.joinTimeoutMs === undefined ? Infinity : Date.now() + o.joinTimeoutMs;
  let offset = found.offset;
  let lastProblem = '';
  let shownCode = '';
  let staleRetried = false;
  const pause = () => new Promise((r) => setTimeout(r, o.pollMs));
  o.say(`asking to join at ${formatEndpoint(found.joinEndpoint)} as ${name} (${o.role}), WireGuard on ${listen}${token ? ', with an enrolment token' : ''}`);
  while (Date.now() < deadline) {
    const nonce = newNonce();
    const sealed = sealRequest(keys, { v: 1, publicKey, name, role: o.role, listen, at: Date.now() + offset, nonce, ...(token && { token: sealToken(keys, token) }) });
    let answer: JoinAnswer;
    try {
      const http = await post(found.joinEndpoint, sealed.body, sealed.mac);
      answer = openAnswer(keys, http.body, http.mac, nonce);
    } catch (err) {
      // The endpoint may be restarting, or someone else answered: try again, say so once.
      const problem = err instanceof JoinAnswerError ? err.message : `join endpoint ${formatEndpoint(found.joinEndpoint)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
      if (problem !== lastProblem) o.say(`${problem}; trying again every ${o.pollMs} ms`);
      lastProblem = problem;
      await pause();
      continue;
    }
    lastProblem = '';
    if (answer.status === 'granted') return accept(o, pinned, listen, answer.membership, answer.syncSeq);
    if (answer.status === 'pending') {
      if (answer.code !== shownCode) {
        o.say(`waiting for approval as node ${answer.nodeId}: join code ${formatCode(answer.code)} (compare it with \`ppn nodes list\` on the admin)`);
        shownCode = answer.code;
      }
      await pause();
      continue;
    }
    if (answer.refusal === 'too-many-pending' || answer.refusal === 'too-many-pending-from-source') {
      if (answer.reason !== lastProblem) o.say(`${answer.reason}; trying again every ${o.pollMs} ms`);
      lastProblem = answer.reason;
      await pause();
      continue;
    }
    if (answer.refusal === 'stale' && !staleRetried) {
      // Our clock is off: the authenticated answer carries the authority's time.
      offset = answer.at - Date.now();
      staleRetried = true;
      continue;
    }
    throw new JoinRefusedError(`the authority refused the join: ${answer.reason}`);
  }
  throw new JoinRefusedError(`not admitted within ${o.joinTimeoutMs} ms${lastProblem ? ` (${lastProblem})` : ''}`);
}

function accept(o: JoinOptions, pinned: PinnedAuthority, listen: string, m: Membership, syncSeq: number): Membership {
  const wrong =
    m.authority.commandPublicKey !== pinned.commandPublicKey || m.authority.address !== pinned.address || m.authority.nodeId !== pinned.nodeId
      ? 'names another authority'
      : m.address !== nodeAddress(m.nodeId)
        ? 'has an address that is not its node id'
        : m.listen !== listen
          ? 'has another WireGuard endpoint'
          : !m.peers.some((p) => p.address === pinned.address)
            ? 'has no peer for the authority'
            : undefined;
  if (wrong) throw new JoinRefusedError(`the grant ${wrong}; not saved`);
  saveMembership(o.instanceDir, m);
  saveGenesisState(o.instanceDir, { syncSeq });
  dropEnrolmentToken(o.instanceDir);
  return m;
}
