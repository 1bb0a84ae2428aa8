// Interop with stock WireGuard: Debian's wireguard-go in one network namespace, our endpoint
// (`ppn wg run`, a child process) in another, joined by veth. Everything waits on events (log
// lines, process exits, echoed datagrams), each wait bounded.
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatKey, parseKey } from '../../core/keys/index.js';
import { uapiGet } from '../../core/wireguard/uapi.js';
import { requireNetns } from '../support/root.js';
import {
  createNetnsPair, run, startWireguardGo, stop, udpEchoFrom, watchLines, type Lines, type NetnsPair, type WireguardGo,
} from './netns.js';
import { newKey } from './support.js';

const MAIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../core/cli/main.js');
const ID = String(process.pid).slice(-5);
const WG_PORT = 51820;
const OUR_PORT = 51821;
const ECHO_PORT = 7000;

interface Ours {
  child: ChildProcess;
  lines: Lines;
  /** Waits for a JSON log line with this msg (and fields). */
  log(msg: string, fields?: Record<string, unknown>, ms?: number, next?: boolean): Promise<Record<string, unknown>>;
}

describe('wireguard interop with wireguard-go (network namespaces)', function () {
  this.timeout(90_000);
  let ns: NetnsPair | undefined;
  let wg: WireguardGo | undefined;
  let ours: Ours | undefined;
  const wgKey = newKey();
  const dir = mkdtempSync(join(tmpdir(), 'ppn-wg-interop-'));

  before(async function () {
    requireNetns(this, ['wireguard-go', 'wg', 'ping']);
    ns = await createNetnsPair(ID);
    wg = await startWireguardGo(ns.a, `ppnwg${ID}`, '10.99.0.1/24');
  });

  after(async () => {
    if (ours) await stop(ours.child);
    await wg?.stop();
    await ns?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  afterEach(async () => {
    if (ours) await stop(ours.child);
    ours = undefined;
  });

  async function startOurs(conf: string[], extra: string[] = []): Promise<Ours> {
    const file = join(dir, `ours-${Math.random().toString(36).slice(2)}.conf`);
    writeFileSync(file, conf.join('\n'), { mode: 0o600 });
    const child = spawn('ip', ['netns', 'exec', ns!.b, process.execPath, MAIN, 'wg', 'run', file,
      '--echo-udp', String(ECHO_PORT), '--log-level', 'debug', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines = watchLines(child);
    const o: Ours = {
      child, lines,
      async log(msg, fields = {}, ms = 15_000, next = false) {
        const test = (l: string) => {
          try {
            const j = JSON.parse(l) as Record<string, unknown>;
            return j.msg === msg && Object.entries(fields).every(([k, v]) => j[k] === v);
          } catch {
            return false;
          }
        };
        const what = `our log "${msg}" ${JSON.stringify(fields)}`;
        return JSON.parse(await (next ? lines.waitForNext(test, ms, what) : lines.waitFor(test, ms, what))) as Record<string, unknown>;
      },
    };
    ours = o;
    await o.log('listening');
    return o;
  }

  function ourConfig(secret: Uint8Array, peer: string[]): string[] {
    return ['[Interface]', `PrivateKey = ${formatKey(secret)}`, 'Address = 10.99.0.2/24', `ListenPort = ${OUR_PORT}`,
      '', '[Peer]', ...peer];
  }

  /** Sends `count` datagrams of `size` bytes from wireguard-go's side to our echo port; all must come back. */
  function udpEcho(count: number, waitMs = 15_000, size = 16) {
    return udpEchoFrom(ns!.a, '10.99.0.1', '10.99.0.2', ECHO_PORT, { count, waitMs, size });
  }

  it('wireguard-go initiates: handshake, UDP both ways, ping, and a clean exit on SIGTERM', async () => {
    const me = newKey();
    await wg!.configure({
      privateKey: wgKey.secret, listenPort: WG_PORT,
      peers: [{ publicKey: parseKey(me.publicKey), endpoint: `${ns!.addressB}:${OUR_PORT}`, allowedIPs: ['10.99.0.2/32'] }],
    });
    // No Endpoint on our side: we learn it from wireguard-go's initiation.
    const o = await startOurs(ourConfig(me.secret, [`PublicKey = ${wgKey.publicKey}`, 'AllowedIPs = 10.99.0.1/32']));

    const echo = await udpEcho(5);
    expect(echo.code, JSON.stringify(echo)).to.equal(0);
    expect(echo.got).to.have.length(5);
    expect(echo.from).to.equal(`10.99.0.2:${ECHO_PORT}`);
    const hs = await o.log('handshake completed');
    expect(hs).to.include({ peer: wgKey.publicKey, initiator: false, endpoint: `${ns!.addressA}:${WG_PORT}` });

    const ping = await run('ip', ['netns', 'exec', ns!.a, 'ping', '-c', '3', '-i', '0.2', '-W', '5', '10.99.0.2']);
    expect(ping.code, ping.stdout + ping.stderr).to.equal(0);
    expect(ping.stdout).to.match(/3 packets transmitted, 3 received/);
    // Larger than the tunnel MTU (1420): Linux fragments the request, we reassemble it and
    // fragment the reply.
    const bigPing = await run('ip', ['netns', 'exec', ns!.a, 'ping', '-c', '2', '-i', '0.2', '-W', '5', '-s', '3000', '10.99.0.2']);
    expect(bigPing.code, bigPing.stdout + bigPing.stderr).to.equal(0);
    expect(bigPing.stdout).to.match(/3008 bytes from 10\.99\.0\.2/);
    const bigEcho = await udpEcho(3, 15_000, 1400);
    expect(bigEcho.code, JSON.stringify(bigEcho)).to.equal(0);

    const state = await uapiGet(wg!.iface);
    expect(state.peers[0].last_handshake_time_sec).to.not.equal('0');
    expect(Number(state.peers[0].rx_bytes)).to.be.above(0);

    expect(await stop(o.child)).to.equal(0);
    await o.log('stopped', { signal: 'SIGTERM' }, 1000);
    // No secret in the logs: not our private key, not the peer's.
    const all = o.lines.all.join('\n');
    expect(all).to.not.include(formatKey(me.secret));
  });

  it('our endpoint initiates (persistent keepalive); wireguard-go learns our endpoint and answers', async () => {
    const me = newKey();
    const mark = wg!.lines.all.length;
    await wg!.configure({ peers: [{ publicKey: parseKey(me.publicKey), allowedIPs: ['10.99.0.2/32'] }] });
    const o = await startOurs(ourConfig(me.secret, [
      `PublicKey = ${wgKey.publicKey}`, 'AllowedIPs = 10.99.0.1/32', `Endpoint = ${ns!.addressA}:${WG_PORT}`, 'PersistentKeepalive = 25',
    ]));
    expect(await o.log('handshake completed')).to.include({ initiator: true });
    await wg!.lines.waitFor(/Received handshake initiation/, 5000, 'wireguard-go to see our initiation', mark);
    const echo = await udpEcho(3);
    expect(echo.code, JSON.stringify(echo)).to.equal(0);
    const state = await uapiGet(wg!.iface);
    expect(state.peers[0].endpoint).to.equal(`${ns!.addressB}:${OUR_PORT}`);
  });

  it('rekeys with wireguard-go (REKEY_AFTER_TIME shortened by --rekey-after-time) and keeps carrying traffic', async () => {
    const me = newKey();
    const mark = wg!.lines.all.length;
    await wg!.configure({ peers: [{ publicKey: parseKey(me.publicKey), allowedIPs: ['10.99.0.2/32'] }] });
    const o = await startOurs(ourConfig(me.secret, [
      `PublicKey = ${wgKey.publicKey}`, 'AllowedIPs = 10.99.0.1/32', `Endpoint = ${ns!.addressA}:${WG_PORT}`, 'PersistentKeepalive = 1',
    ]), ['--rekey-after-time', '1']);
    await o.log('handshake completed', { initiator: true });
    // Initiations are at most one per REKEY_TIMEOUT (5 s), so the rekey comes after that.
    await o.log('handshake completed', { initiator: true }, 20_000, true);
    const echo = await udpEcho(3);
    expect(echo.code, JSON.stringify(echo)).to.equal(0);
    // wireguard-go answered both initiations (its log can trail ours by a moment).
    const first = wg!.lines.all.indexOf(await wg!.lines.waitFor(/Sending handshake response/, 5000, 'a first response', mark));
    await wg!.lines.waitFor(/Sending handshake response/, 5000, 'a second response', first + 1);
  });

  it('refuses a peer with the wrong key, in both directions', async () => {
    const me = newKey();
    // 1. wireguard-go knows us, we do not know it (a different key in our file): its initiation is refused.
    await wg!.configure({ peers: [{ publicKey: parseKey(me.publicKey), endpoint: `${ns!.addressB}:${OUR_PORT}`, allowedIPs: ['10.99.0.2/32'] }] });
    const o = await startOurs(ourConfig(me.secret, [`PublicKey = ${newKey().publicKey}`, 'AllowedIPs = 10.99.0.1/32']));
    const client = udpEcho(1, 3000);
    await o.log('dropped', { reason: 'initiation: unknown peer' });
    expect((await client).code).to.equal(2);
    expect(o.lines.all.some((l) => l.includes('handshake completed'))).to.equal(false);
    await stop(o.child);

    // 2. We know wireguard-go, it does not know us: our initiation is refused there.
    const mark = wg!.lines.all.length;
    await wg!.configure({ peers: [{ publicKey: parseKey(newKey().publicKey), allowedIPs: ['10.99.0.2/32'] }] });
    const o2 = await startOurs(ourConfig(me.secret, [
      `PublicKey = ${wgKey.publicKey}`, 'AllowedIPs = 10.99.0.1/32', `Endpoint = ${ns!.addressA}:${WG_PORT}`, 'PersistentKeepalive = 25',
    ]));
    await wg!.lines.waitFor(/invalid initiation/i, 10_000, 'wireguard-go to refuse our initiation', mark);
    expect(o2.lines.all.some((l) => l.includes('handshake completed'))).to.equal(false);
  });

  it('under load, sends wireguard-go a cookie reply; wireguard-go retries with mac2 and the handshake completes', async () => {
    const me = newKey();
    await wg!.configure({ peers: [{ publicKey: parseKey(me.publicKey), endpoint: `${ns!.addressB}:${OUR_PORT}`, allowedIPs: ['10.99.0.2/32'] }] });
    const mark = wg!.lines.all.length;
    const o = await startOurs(ourConfig(me.secret, [`PublicKey = ${wgKey.publicKey}`, 'AllowedIPs = 10.99.0.1/32']), ['--cookie-threshold', '0']);
    const echo = udpEcho(3, 30_000);
    await o.log('under load: cookie reply sent');
    await wg!.lines.waitFor(/Receiving cookie response/, 10_000, 'wireguard-go to take our cookie', mark);
    // wireguard-go retries after REKEY_TIMEOUT, now with mac2 from our cookie.
    expect(await o.log('handshake completed', {}, 20_000)).to.include({ initiator: false });
    const result = await echo;
    expect(result.code, JSON.stringify(result)).to.equal(0);
    expect(result.got).to.have.length(3);
  });
});
