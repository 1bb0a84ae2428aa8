// Userspace WireGuard: handshakes per second on one core; UDP packets/s and MB/s between two
// meshes directly and through a hub's relay (three processes, loopback); and memory per configured
// peer. Ours against wireguard-go, like for like in network namespaces: wireguard-netns.bench.ts.
//
// Throughput method: a receiver counts UDP datagrams on the far tunnel address for DURATION ms,
// starting WARMUP ms after the first one it gets; the sender writes as fast as it can, in batches,
// yielding to the event loop between them. Lost datagrams are simply not counted.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { createMesh, type Mesh } from '../core/mesh/mesh.js';
import type { MeshPeer } from '../core/mesh/peer.js';
import { createDevice } from '../core/wireguard/device.js';
import { addMacs, checkMac1, createCookieChecker, createCookieGenerator } from '../core/wireguard/cookie.js';
import { COOKIE_REFRESH_TIME } from '../core/wireguard/constants.js';
import { dh, formatKey, generateSecret, keyPairFromPrivate, publicKeyOf } from '../core/keys/index.js';
import {
  consumeInitiation, consumeResponse, createInitiation, createResponse, deriveTransportKeys,
} from '../core/wireguard/noise.js';
import { tai64n } from '../core/wireguard/tai64n.js';
import { stop } from '../test/wireguard/netns.js';
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

// ---- counting at the receiver ---------------------------------------------------------------

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

/** Bounds every wait, so a broken run fails with a reason instead of hanging. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`bench: no ${what} within ${ms} ms`)), ms); })])
    .finally(() => clearTimeout(timer));
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

const MEMORY_PEERS = 2000;
const MEMORY_SAMPLES = 5;

/** Live heap + external (ArrayBuffers included) after full collections, until it stops shrinking. */
async function settledMemory(gc: () => void): Promise<number> {
  let last = Infinity;
  for (let i = 0; i < 10; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
    const m = process.memoryUsage();
    const now = m.heapUsed + m.external;
    if (now >= last) return now;
    last = now;
  }
  return last;
}

/**
 * Run in a child started with --expose-gc: per sample, a fresh device, the memory it holds after
 * forced collections before and after MEMORY_PEERS addPeer calls (keys made beforehand).
 */
async function memoryChild(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('bench: memory child needs --expose-gc');
  const samples: { bytesPerPeer: number; addPeerUs: number }[] = [];
  for (let s = 0; s < MEMORY_SAMPLES; s++) {
    const keys = Array.from({ length: MEMORY_PEERS }, () => formatKey(publicKeyOf(generateSecret())));
    const device = await createDevice({ privateKey: generateSecret(), address: '10.97.0.1', bindAddress: '127.0.0.1' });
    const before = await settledMemory(gc);
    const start = performance.now();
    keys.forEach((publicKey, i) => device.addPeer({
      publicKey, allowedIPs: [`10.97.${(i + 2) >> 8}.${(i + 2) & 0xff}/32`], endpoint: `127.0.0.1:${20000 + i}`, persistentKeepalive: 0,
    }));
    const addPeerUs = ((performance.now() - start) * 1000) / MEMORY_PEERS;
    const after = await settledMemory(gc);
    samples.push({ bytesPerPeer: (after - before) / MEMORY_PEERS, addPeerUs });
    await device.close();
  }
  process.send!(samples);
}

async function memoryPerPeer(): Promise<{ bytesPerPeer: number[]; addPeerUs: number[] }> {
  const child = fork(fileURLToPath(import.meta.url), [], { execArgv: [...process.execArgv, '--expose-gc'], env: { ...process.env, PPN_WG_BENCH_ROLE: 'memory' } });
  try {
    const samples = await within(new Promise<{ bytesPerPeer: number; addPeerUs: number }[]>((resolve) => child.once('message', (m) => resolve(m as never))), 60_000, 'memory samples');
    return { bytesPerPeer: samples.map((x) => x.bytesPerPeer), addPeerUs: samples.map((x) => x.addPeerUs) };
  } finally {
    await stop(child);
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export default async function bench(): Promise<void> {
  printTable([{ operation: 'full handshake (initiation + response, both sides, mac1)', 'per second, one core': handshakesPerSecond() }]);
  console.log();

  // Ours against wireguard-go, like for like in network namespaces: wireguard-netns.bench.ts.

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
  printTable([{
    peers: MEMORY_PEERS,
    'heap + external per peer (median)': `${Math.round(median(mem.bytesPerPeer))} B`,
    samples: mem.bytesPerPeer.map((b) => Math.round(b)).join(', '),
    'addPeer (incl. static DH, median)': `${median(mem.addPeerUs).toFixed(0)} µs`,
  }]);
  console.log(`(a child process with --expose-gc: ${MEMORY_SAMPLES} samples, each a fresh device measured after forced collections
 before and after adding the peers)`);
}

if (process.env.PPN_WG_BENCH_ROLE === 'memory') await memoryChild();
if (process.env.PPN_WG_BENCH_ROLE === 'mesh') await meshChild();
