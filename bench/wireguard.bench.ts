// Userspace WireGuard: handshakes per second on one core; UDP packets/s and MB/s through a tunnel
// between two of our endpoints (two processes, loopback) beside the same traffic between two
// wireguard-go instances in network namespaces (when root and wireguard-go are available); the
// same between two meshes directly and through a hub's relay (three processes); and memory per
// configured peer.
//
// Throughput method, the same for both: a receiver counts UDP datagrams on the far tunnel
// address for DURATION ms, starting WARMUP ms after the first one it gets; the sender writes as fast as it can, in
// batches, yielding to the event loop between them. Lost datagrams are simply not counted.
import { fork, spawn } from 'node:child_process';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { createMesh, type Mesh } from '../core/mesh/mesh.js';
import type { MeshPeer } from '../core/mesh/peer.js';
import { createDevice, type Device } from '../core/wireguard/device.js';
import { addMacs, checkMac1, createCookieChecker, createCookieGenerator } from '../core/wireguard/cookie.js';
import { COOKIE_REFRESH_TIME } from '../core/wireguard/constants.js';
import { dh, formatKey, generateSecret, keyPairFromPrivate, publicKeyOf } from '../core/keys/index.js';
import {
  consumeInitiation, consumeResponse, createInitiation, createResponse, deriveTransportKeys,
} from '../core/wireguard/noise.js';
import { tai64n } from '../core/wireguard/tai64n.js';
import { canUseNetns } from '../test/support/root.js';
import { createNetnsPair, run, startWireguardGo, stop, watchLines } from '../test/wireguard/netns.js';
import { printTable } from './table.js';

const DURATION = 3000;
/** Counting starts this long after the first datagram, once both ends are warmed up (JIT, buffers). */
const WARMUP = 500;
const SIZES = [64, 1400];
const BATCH = 128;
const PORT = 9000;

interface Count {
  packets: number;
  bytes: number;
  ms: number;
}

// ---- handshakes -------------------------------------------------------------------------------

function handshakesPerSecond(ms = 2000): number {
  const i = keyPairFromPrivate(generateSecret());
  const r = keyPairFromPrivate(generateSecret());
  const ss = dh(i.privateKey, r.publicKey)!;
  const gen = createCookieGenerator(r.publicKey);
  const genBack = createCookieGenerator(i.publicKey);
  const checkR = createCookieChecker(r.publicKey);
  const checkI = createCookieChecker(i.publicKey);
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < ms) {
    const { message, handshake } = createInitiation(i, r.publicKey, ss, n + 1, tai64n(Date.now()));
    addMacs(gen, message, 0, COOKIE_REFRESH_TIME);
    if (!checkMac1(checkR, message)) throw new Error('mac1');
    const consumed = consumeInitiation(r, message, () => ({ peer: 1, staticStatic: ss }));
    if (typeof consumed === 'string') throw new Error(consumed);
    const response = createResponse(consumed.handshake, i.publicKey, undefined, n + 2);
    addMacs(genBack, response, 0, COOKIE_REFRESH_TIME);
    if (!checkMac1(checkI, response) || !consumeResponse(handshake, i, response, undefined)) throw new Error('response');
    deriveTransportKeys(handshake);
    deriveTransportKeys(consumed.handshake);
    n++;
  }
  return (n * 1000) / (performance.now() - start);
}

// ---- a sender loop, used by both our sender and the plain UDP sender in a namespace --------------

async function blast(send: () => void, ms: number): Promise<void> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    for (let k = 0; k < BATCH; k++) send();
    await new Promise((r) => setImmediate(r));
  }
}

// ---- ours: two endpoints, two processes, loopback ------------------------------------------------

/** Counts what arrives on PORT for `ms`, starting WARMUP after the first datagram; then reports it. */
function measure(bindUdp: (port: number, handler: (payload: Uint8Array) => void) => { close(): void }, ms: number): void {
  let first = 0;
  const c: Count = { packets: 0, bytes: 0, ms };
  const binding = bindUdp(PORT, (payload) => {
    const now = performance.now();
    if (!first) {
      first = now;
      setTimeout(() => { binding.close(); process.send!(c); }, WARMUP + ms);
    }
    const t = now - first - WARMUP;
    if (t < 0 || t > ms) return;
    c.packets++;
    c.bytes += payload.length;
  });
}

/** The receiving endpoint, run as a forked child of this same file. */
async function receiverChild(): Promise<void> {
  const secret = generateSecret();
  const device = await createDevice({ privateKey: secret, address: '10.98.0.2', bindAddress: '127.0.0.1', mtu: 1500 });
  let peer: string | undefined;
  process.on('message', (m: { peer?: string; measure?: number }) => {
    if (m.peer) {
      if (peer) device.removePeer(peer);
      peer = m.peer;
      device.addPeer({ publicKey: m.peer, allowedIPs: ['10.98.0.1/32'] });
      process.send!({ ready: true });
    }
    if (m.measure) measure((port, handler) => device.bindUdp(port, handler), m.measure);
  });
  process.send!({ publicKey: device.publicKey, port: device.port });
}

/** Bounds every wait, so a broken run fails with a reason instead of hanging. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`bench: no ${what} within ${ms} ms`)), ms); })])
    .finally(() => clearTimeout(timer));
}

async function oursThroughput(): Promise<Map<number, Count>> {
  const child = fork(fileURLToPath(import.meta.url), [], { env: { ...process.env, PPN_WG_BENCH_ROLE: 'receiver' } });
  const next = <T>(what: string) => within(new Promise<T>((resolve) => child.once('message', (m) => resolve(m as T))), WARMUP + DURATION + 10_000, what);
  const results = new Map<number, Count>();
  let sender: Device | undefined;
  try {
    const hello = await next<{ publicKey: string; port: number }>('receiver start');
    for (const size of SIZES) {
      sender = await createDevice({ privateKey: generateSecret(), address: '10.98.0.1', bindAddress: '127.0.0.1', mtu: 1500 });
      child.send({ peer: sender.publicKey });
      await next('receiver peer set-up');
      sender.addPeer({ publicKey: hello.publicKey, allowedIPs: ['10.98.0.2/32'], endpoint: `127.0.0.1:${hello.port}` });
      const handshake = within(new Promise((r) => sender!.once('handshake', r)), 10_000, 'handshake');
      sender.sendUdp(PORT, '10.98.0.2', 1, Buffer.alloc(1));
      await handshake;
      const result = next<Count>('receiver count');
      child.send({ measure: DURATION });
      const payload = Buffer.alloc(size, 0x61);
      const s = sender;
      await blast(() => s.sendUdp(PORT, '10.98.0.2', PORT, payload), WARMUP + DURATION + 500);
      results.set(size, await result);
      await sender.close();
      sender = undefined;
    }
  } finally {
    await sender?.close();
    await stop(child);
  }
  return results;
}

// ---- wireguard-go: two instances in two namespaces -----------------------------------------------

const NS_RECEIVER = `
import dgram from 'node:dgram';
const [addr, port, ms, warmup] = process.argv.slice(1);
const s = dgram.createSocket('udp4');
let first = 0, packets = 0, bytes = 0;
s.on('message', (m) => {
  const now = performance.now();
  if (!first) { first = now; setTimeout(() => { console.log(JSON.stringify({ packets, bytes, ms: +ms })); process.exit(0); }, +warmup + +ms); }
  const t = now - first - +warmup;
  if (t >= 0 && t <= +ms) { packets++; bytes += m.length; }
});
s.bind(+port, addr, () => console.log('ready'));
`;

const NS_SENDER = `
import dgram from 'node:dgram';
const [from, to, port, size, ms, batch] = process.argv.slice(1);
const s = dgram.createSocket('udp4');
const payload = Buffer.alloc(+size, 0x61);
s.bind(0, from, async () => {
  const end = performance.now() + +ms;
  while (performance.now() < end) {
    for (let k = 0; k < +batch; k++) s.send(payload, +port, to);
    await new Promise((r) => setImmediate(r));
  }
  s.close();
});
`;

async function wireguardGoThroughput(): Promise<Map<number, Count> | string> {
  const why = canUseNetns();
  if (why) return why;
  if ((await run('sh', ['-c', 'command -v wireguard-go'])).code !== 0) return 'wireguard-go is not installed';
  const id = `b${String(process.pid).slice(-4)}`;
  // MTU 1500 inside, 1600 on the veth: 1,400-byte payloads then cross unfragmented, as in ours.
  const ns = await createNetnsPair(id, 1600);
  const ka = generateSecret();
  const kb = generateSecret();
  const results = new Map<number, Count>();
  let wa: Awaited<ReturnType<typeof startWireguardGo>> | undefined;
  let wb: Awaited<ReturnType<typeof startWireguardGo>> | undefined;
  try {
    wa = await startWireguardGo(ns.a, `ppnwg${id}a`, '10.99.1.1/24', 1500);
    wb = await startWireguardGo(ns.b, `ppnwg${id}b`, '10.99.1.2/24', 1500);
    await wa.configure({ privateKey: ka, listenPort: 51820, peers: [{ publicKey: publicKeyOf(kb), endpoint: `${ns.addressB}:51820`, allowedIPs: ['10.99.1.2/32'] }] });
    await wb.configure({ privateKey: kb, listenPort: 51820, peers: [{ publicKey: publicKeyOf(ka), endpoint: `${ns.addressA}:51820`, allowedIPs: ['10.99.1.1/32'] }] });
    for (const size of SIZES) {
      const receiver = spawn('ip', ['netns', 'exec', ns.b, process.execPath, '--input-type=module', '-e', NS_RECEIVER, '10.99.1.2', String(PORT), String(DURATION), String(WARMUP)], { stdio: ['ignore', 'pipe', 'pipe'] });
      const lines = watchLines(receiver);
      try {
        await lines.waitFor(/^ready$/, 10_000);
        const sent = run('ip', ['netns', 'exec', ns.a, process.execPath, '--input-type=module', '-e', NS_SENDER,
          '10.99.1.1', '10.99.1.2', String(PORT), String(size), String(WARMUP + DURATION + 500), String(BATCH)], DURATION + 15_000);
        const line = await lines.waitFor(/^\{/, DURATION + 15_000);
        await sent;
        results.set(size, JSON.parse(line) as Count);
      } finally {
        await stop(receiver);
      }
    }
  } finally {
    await wa?.stop();
    await wb?.stop();
    await ns.destroy();
  }
  return results;
}

// ---- meshes: spoke to spoke directly, and through a hub's relay (three processes, loopback) --------

const SPOKE_A = '10.98.0.1';
const SPOKE_B = '10.98.0.2';
const HUB = '10.98.0.254';

function benchMesh(address: string, relay: boolean): Promise<Mesh> {
  return createMesh({
    mode: 'userspace', address, privateKey: generateSecret(), listenPort: 0, bindAddress: '127.0.0.1', peers: [], relay,
    logger: pino({ level: 'silent' }),
  });
}

/** A mesh (the receiving spoke, or the hub), run as a forked child of this same file. */
async function meshChild(): Promise<void> {
  const { address, relay } = JSON.parse(process.env.PPN_WG_BENCH_MESH!) as { address: string; relay: boolean };
  const mesh = await benchMesh(address, relay);
  process.on('message', (m: { peers?: MeshPeer[]; measure?: number }) => {
    if (m.peers) {
      mesh.setPeers(m.peers);
      process.send!({ ready: true });
    }
    if (m.measure) measure((port, handler) => mesh.device!.bindUdp(port, handler), m.measure);
  });
  process.send!({ publicKey: mesh.device!.publicKey, port: mesh.device!.port });
}

async function meshThroughput(relayed: boolean): Promise<Map<number, Count>> {
  const forkMesh = (address: string, relay: boolean) =>
    fork(fileURLToPath(import.meta.url), [], { env: { ...process.env, PPN_WG_BENCH_ROLE: 'mesh', PPN_WG_BENCH_MESH: JSON.stringify({ address, relay }) } });
  const next = <T>(child: ReturnType<typeof fork>, what: string) =>
    within(new Promise<T>((resolve) => child.once('message', (m) => resolve(m as T))), WARMUP + DURATION + 10_000, what);
  const b = forkMesh(SPOKE_B, false);
  const hub = relayed ? forkMesh(HUB, true) : undefined;
  const a = await benchMesh(SPOKE_A, false);
  const results = new Map<number, Count>();
  try {
    type Hello = { publicKey: string; port: number };
    const atB = await next<Hello>(b, 'spoke start');
    const atHub = hub && (await next<Hello>(hub, 'hub start'));
    const peer = (name: string, address: string, hello: Hello, via?: string): MeshPeer =>
      ({ name, publicKey: hello.publicKey, address, allowedIPs: [`${address}/32`], ...(via ? { via } : { endpoint: `127.0.0.1:${hello.port}` }) });
    const atA = { publicKey: a.device!.publicKey, port: a.device!.port };
    if (hub && atHub) {
      hub.send({ peers: [peer('a', SPOKE_A, atA), peer('b', SPOKE_B, atB)] });
      await next(hub, 'hub peers');
    }
    b.send({ peers: atHub ? [peer('hub', HUB, atHub), peer('a', SPOKE_A, atA, 'hub')] : [peer('a', SPOKE_A, atA)] });
    await next(b, 'spoke peers');
    a.setPeers(atHub ? [peer('hub', HUB, atHub), peer('b', SPOKE_B, atB, 'hub')] : [peer('b', SPOKE_B, atB)]);
    const socket = await a.bind(0, () => {});
    await within(a.whenConnected(SPOKE_B, 10_000), 11_000, 'session with the far spoke');
    for (const size of SIZES) {
      const result = next<Count>(b, 'spoke count');
      b.send({ measure: DURATION });
      const payload = Buffer.alloc(size, 0x61);
      await blast(() => socket.send(SPOKE_B, PORT, payload), WARMUP + DURATION + 500);
      results.set(size, await result);
    }
  } finally {
    await a.close();
    await stop(b);
    if (hub) await stop(hub);
  }
  return results;
}

// ---- memory per peer ---------------------------------------------------------------------------

async function memoryPerPeer(peers = 1000): Promise<{ bytesPerPeer: number; addPeerUs: number }> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const keys = Array.from({ length: peers }, () => formatKey(publicKeyOf(generateSecret())));
  const device = await createDevice({ privateKey: generateSecret(), address: '10.97.0.1', bindAddress: '127.0.0.1' });
  try {
    gc();
    const before = process.memoryUsage();
    const start = performance.now();
    keys.forEach((publicKey, i) => device.addPeer({
      publicKey, allowedIPs: [`10.97.${(i + 2) >> 8}.${(i + 2) & 0xff}/32`], endpoint: `127.0.0.1:${20000 + i}`, persistentKeepalive: 0,
    }));
    const addPeerUs = ((performance.now() - start) * 1000) / peers;
    gc();
    const after = process.memoryUsage();
    return { bytesPerPeer: (after.heapUsed + after.external - before.heapUsed - before.external) / peers, addPeerUs };
  } finally {
    await device.close();
  }
}

export default async function bench(): Promise<void> {
  printTable([{ operation: 'full handshake (initiation + response, both sides, mac1)', 'per second, one core': handshakesPerSecond() }]);
  console.log();

  const ours = await oursThroughput();
  const theirs = await wireguardGoThroughput();
  const rows: Record<string, string | number>[] = [];
  for (const size of SIZES) {
    const o = ours.get(size)!;
    const t = typeof theirs === 'string' ? undefined : theirs.get(size);
    const pps = (c: Count) => (c.packets * 1000) / c.ms;
    const mbs = (c: Count) => c.bytes / c.ms / 1000;
    rows.push({
      'UDP payload': `${size} B`,
      'ours packets/s': pps(o),
      'ours MB/s': mbs(o),
      'wireguard-go packets/s': t ? pps(t) : 'n/a',
      'wireguard-go MB/s': t ? mbs(t) : 'n/a',
      'ours / wireguard-go': t ? (pps(o) / pps(t)).toFixed(2) : 'n/a',
    });
  }
  printTable(rows);
  console.log(`(ours: two processes over loopback; wireguard-go: two instances in network namespaces over veth;
 tunnel MTU 1500 on both so 1,400-byte payloads are not fragmented; payload bytes counted at the receiver over ${DURATION / 1000} s)`);
  if (typeof theirs === 'string') console.log(`wireguard-go comparison skipped: ${theirs}`);
  console.log();

  const direct = await meshThroughput(false);
  const relayed = await meshThroughput(true);
  printTable(SIZES.map((size) => {
    const d = direct.get(size)!;
    const r = relayed.get(size)!;
    return {
      'UDP payload': `${size} B`,
      'direct packets/s': (d.packets * 1000) / d.ms,
      'via the hub packets/s': (r.packets * 1000) / r.ms,
      'via the hub MB/s': r.bytes / r.ms / 1000,
      'via the hub / direct': (r.packets / d.packets).toFixed(2),
    };
  }));
  console.log(`(spoke to spoke between two meshes, directly or through a third process relaying; tunnel MTU 1420, so
 1,400-byte payloads are fragmented; received payloads counted over ${DURATION / 1000} s)`);
  console.log();

  const mem = await memoryPerPeer();
  printTable([{ peers: 1000, 'heap + external per peer': `${Math.round(mem.bytesPerPeer)} B`, 'addPeer (incl. static DH)': `${mem.addPeerUs.toFixed(0)} µs` }]);
}

if (process.env.PPN_WG_BENCH_ROLE === 'receiver') await receiverChild();
if (process.env.PPN_WG_BENCH_ROLE === 'mesh') await meshChild();
