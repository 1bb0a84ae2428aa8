// What a node keeps of its authority before and after it joins, in its instance directory:
// authority.json, the pinned identity (public keys only: its genesis key signs beacons, claims
// and membership updates; its command key is the other half of every derived key), and
// genesis-state.json, the newest beacon and membership update accepted, so that neither can be
// replayed after a restart. The one-time enrolment token, if the bundle had one, waits in
// enrolment.token (0600) and is deleted once the node is in. An authority key hand-over
// (handover.ts) moves the pin to the new key(s) and keeps the replaced ones, with the wall-clock
// time their overlap ends, in authority.json, so a restart within the overlap keeps both.
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NODE_ADDRESS_PATTERN, NODE_ID_SCHEMA } from '../fleet/addresses.js';
import { formatKey, KEY_PATTERN, parseKey } from '../keys/index.js';
import { ensureInstanceDir, GENESIS_STATE_FILE, readJson, writeJsonAtomic } from '../membership/instance-files.js';
import { ENDPOINT_PATTERN } from '../underlay/endpoint.js';
import { checkSchema, formatProblems } from '../runtime/schema-check.js';
import type { Handover } from './handover.js';
import type { NodeEpochKeys } from '../protocol/epoch-keys.js';
import { signatureVerifier, type GenesisSignatureCheck } from './signing-key.js';

export const AUTHORITY_FILE = 'authority.json';
export const TOKEN_FILE = 'enrolment.token';

export interface PinnedAuthority {
  /** Ed25519, base64. */
  genesisKey: string;
  /** X25519, base64. */
  commandPublicKey: string;
  nodeId: number;
  address: string;
  /** The number of the last authority key hand-over taken (absent: none). */
  handover?: number;
  /** The keys the hand-overs replaced, still accepted until `until` (wall-clock ms). */
  previous?: { genesis?: PreviousKey; command?: PreviousKey };
}

export interface PreviousKey {
  key: string;
  until: number;
  /** The command key only: the epoch the node left, which derives from this key until `until`. */
  epoch?: number;
}

const KEY = { type: 'string', pattern: KEY_PATTERN };
const PREVIOUS_KEY = {
  type: 'object',
  required: ['key', 'until'],
  additionalProperties: false,
  properties: { key: KEY, until: { type: 'number', minimum: 0 }, epoch: { type: 'integer', minimum: 0, maximum: 63 } },
};
export const pinnedAuthoritySchema = {
  type: 'object',
  required: ['genesisKey', 'commandPublicKey', 'nodeId', 'address'],
  additionalProperties: false,
  properties: {
    genesisKey: KEY,
    commandPublicKey: KEY,
    nodeId: NODE_ID_SCHEMA,
    address: { type: 'string', pattern: NODE_ADDRESS_PATTERN },
    handover: { type: 'integer', minimum: 1 },
    previous: { type: 'object', additionalProperties: false, properties: { genesis: PREVIOUS_KEY, command: PREVIOUS_KEY } },
  },
};

/** The pinned authority, or undefined when none is pinned yet. */
export function loadPinnedAuthority(instanceDir: string): PinnedAuthority | undefined {
  const path = join(instanceDir, AUTHORITY_FILE);
  if (!existsSync(path)) return undefined;
  const data = readJson(path);
  const problems = checkSchema(pinnedAuthoritySchema, data);
  if (problems.length) throw new Error(`${path}: ${formatProblems(problems)}`);
  return data as PinnedAuthority;
}

export function samePin(a: PinnedAuthority, b: PinnedAuthority): boolean {
  return a.genesisKey === b.genesisKey && a.commandPublicKey === b.commandPublicKey && a.nodeId === b.nodeId && a.address === b.address;
}

/** Pins `authority`; a node already pinned to another authority keeps it (re-provision a fresh instance instead). */
export function pinAuthority(instanceDir: string, authority: PinnedAuthority): void {
  const current = loadPinnedAuthority(instanceDir);
  if (current && !samePin(current, authority)) {
    throw new Error(`${join(instanceDir, AUTHORITY_FILE)} already pins another authority (genesis key ${current.genesisKey}); use a fresh instance directory to change authority`);
  }
  if (!current) writeJsonAtomic(join(instanceDir, AUTHORITY_FILE), authority, 0o644);
}

/** Replaces the pin with `authority` (a hand-over taken): written whole, then renamed. */
export function savePinnedAuthority(instanceDir: string, authority: PinnedAuthority): void {
  writeJsonAtomic(join(instanceDir, AUTHORITY_FILE), authority, 0o644);
}

/** The pin after taking `handover` at `now`: the new key(s) current, the replaced ones kept for its overlap. */
export function pinAfterHandover(pin: PinnedAuthority, handover: Handover, now: number, epochLeft: number): PinnedAuthority {
  const until = now + handover.overlapSeconds * 1000;
  const previous = { ...pin.previous };
  if (handover.newGenesisKey) previous.genesis = { key: pin.genesisKey, until };
  if (handover.newCommandKey) previous.command = { key: pin.commandPublicKey, until, epoch: epochLeft };
  return {
    ...pin,
    genesisKey: handover.newGenesisKey ? formatKey(handover.newGenesisKey) : pin.genesisKey,
    commandPublicKey: handover.newCommandKey ? formatKey(handover.newCommandKey) : pin.commandPublicKey,
    handover: handover.number,
    previous,
  };
}

/**
 * Checks a signature against the pin as it is at each call: the current genesis key, else the
 * key the last hand-over replaced while its overlap lasts. After the overlap a signature of that
 * key is refused as 'previous-key-ended' (not 'forged': the authority did make it, too late).
 */
export function pinnedGenesisCheck(pin: () => PinnedAuthority, now: () => number = Date.now): GenesisSignatureCheck {
  const verifiers = new Map<string, ReturnType<typeof signatureVerifier>>();
  const verifierOf = (key: string) => {
    let v = verifiers.get(key);
    if (!v) verifiers.set(key, (v = signatureVerifier(parseKey(key))));
    return v;
  };
  return (message, signature) => {
    const p = pin();
    if (verifierOf(p.genesisKey)(message, signature)) return { ok: true, previous: false };
    const previous = p.previous?.genesis;
    if (!previous || !verifierOf(previous.key)(message, signature)) return { ok: false, reason: 'forged' };
    if (now() >= previous.until) return { ok: false, reason: 'previous-key-ended', detail: `signed by genesis key ${previous.key}, replaced by hand-over ${p.handover}; its overlap ended ${new Date(previous.until).toISOString()}` };
    return { ok: true, previous: true };
  };
}

/**
 * A command-key hand-over is an epoch move (core/protocol/epoch-keys.ts): the node's epochs derive
 * from the new key, but for the overlap the epoch it left derives from the replaced one. Called
 * when a hand-over is taken, and at start-up (a restart within the overlap keeps it).
 */
export function bindReplacedCommandKey(keys: NodeEpochKeys, pin: PinnedAuthority | undefined, now: number): void {
  const replaced = pin?.previous?.command;
  if (replaced?.epoch !== undefined && now < replaced.until) keys.bind(replaced.epoch, { authorityPublic: parseKey(replaced.key) });
}

export interface GenesisState {
  lastBeaconAt: number;
  syncSeq: number;
  /** The authority's join endpoint as the provisioning bundle named it (IPv4:port). */
  joinEndpoint?: string;
}

export function loadGenesisState(instanceDir: string): GenesisState {
  const path = join(instanceDir, GENESIS_STATE_FILE);
  const data = existsSync(path) ? (readJson(path) as Partial<GenesisState>) : {};
  const joinEndpoint = typeof data.joinEndpoint === 'string' && new RegExp(ENDPOINT_PATTERN).test(data.joinEndpoint) ? data.joinEndpoint : undefined;
  return { lastBeaconAt: Number(data.lastBeaconAt) || 0, syncSeq: Number(data.syncSeq) || 0, ...(joinEndpoint && { joinEndpoint }) };
}

export function saveGenesisState(instanceDir: string, change: Partial<GenesisState>): void {
  writeJsonAtomic(join(instanceDir, GENESIS_STATE_FILE), { ...loadGenesisState(instanceDir), ...change }, 0o644);
}

export function saveEnrolmentToken(instanceDir: string, token: string): void {
  ensureInstanceDir(instanceDir);
  // mode applies only to a new file: an older, looser one is closed up first.
  const path = join(instanceDir, TOKEN_FILE);
  if (existsSync(path)) chmodSync(path, 0o600);
  writeFileSync(path, `${token}\n`, { mode: 0o600 });
}

export function loadEnrolmentToken(instanceDir: string): string | undefined {
  const path = join(instanceDir, TOKEN_FILE);
  return existsSync(path) ? readFileSync(path, 'utf8').trim() : undefined;
}

export function dropEnrolmentToken(instanceDir: string): void {
  rmSync(join(instanceDir, TOKEN_FILE), { force: true });
}
