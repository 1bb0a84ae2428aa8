// Paths across NATs (issue 11). First, on the NAT testbed (root only): how long a pair behind two
// NATs takes to go direct, to fall back when the direct path is cut, and to return. Then: can
// node-datachannel's data channels (the design card's package for peer-to-peer connectivity)
// carry a spoke's WireGuard datagrams better than our own paths? Two tables, each run in one go:
//   1. the transports bare, two peers in one process on loopback: plain UDP between two sockets,
//      and data channels with libdatachannel's default SCTP settings and with setSctpSettings;
//   2. WireGuard carried by each, one mesh per process (the way nodes run): two meshes over UDP
//      directly, the same two over a data channel (the device's relay seam hands their datagrams
//      to it), and the same two through a third process relaying (the hub, DESIGN §5).
// Messages/s received at 64 B and 1,400 B.
//
// Method, the same everywhere: the sender writes for DURATION ms as fast as the transport takes
// it (batches of BATCH, yielding to the event loop between them; a data channel takes messages
// while its buffered amount is under BUFFER_LIMIT and drops beyond it, as a full socket buffer
// would), and the receiver counts what arrives from WARMUP ms after the first message until the
// sender stops. Lost messages are simply not counted. Data channels are unordered with no
// retransmits (as UDP). Every process that loads node-datachannel is a child whose exit is
// reported: the library has crashed at exit here before.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { createMesh, type Mesh, type MeshOptions } from '../core/mesh/mesh.js';
import { formatKey, generateSecret, publicKeyOf } from '../core/keys/index.js';
import { printTable } from './table.js';
import { canUseNetns } from '../test/support/root.js';
import { readFileSync } from 'node:fs';
import { startFleet } from '../test/nat/fleet.js';
import { startGenesisFleet, type GenesisNode } from '../test/nat/genesis-fleet.js';
import { createNatTestbed, type Host, type NatTestbed } from '../test/nat/testbed.js';
import { scratchDir } from '../test/support/pipeline.js';
import { stop as stopChild, watchLines } from '../test/wireguard/netns.js';

const DURATION = 3000;
const WARMUP = 500;
const SIZES = [64, 1400];
const BATCH = 64;
const BUFFER_LIMIT = 1 << 20;
const PORT = 9000;
const ROLE = 'PPN_NAT_BENCH_ROLE';
const TUNED = { recvBufferSize: 16 << 20, sendBufferSize: 16 << 20, maxChunksOnQueue: 1 << 16, initialCongestionWindow: 1 << 10, delayedSackTime: 0 };
const SETTINGS = { 'default SCTP settings': undefined, 'setSctpSettings (16 MiB buffers, large window, no delayed SACK)': TUNED };

// node-datachannel is not a dependency (docs/nat.md says why): what this bench uses of it,
// declared here so the bench builds and runs without it. To measure it:
// `npm install --no-save node-datachannel && npm run bench nat`.
interface Channel {
  onOpen(cb: () => void): void;
  onMessage(cb: (m: Buffer | string) => void): void;
  sendMessageBinary(b: Buffer): boolean;
  bufferedAmount(): number;
}
interface PeerConnection {
  onLocalDescription(cb: (sdp: string, type: string) => void): void;
  onLocalCandidate(cb: (candidate: string, mid: string) => void): void;
  onDataChannel(cb: (dc: Channel) => void): void;
  createDataChannel(label: string, init: { unordered: boolean; maxRetransmits: number }): Channel;
  setRemoteDescription(sdp: string, type: string): void;
  addRemoteCandidate(candidate: string, mid: string): void;
  close(): void;
}
interface Ndc {
  PeerConnection: new (name: string, config: { iceServers: string[]; bindAddress: string }) => PeerConnection;
  setSctpSettings(s: typeof TUNED): void;
  getLibraryVersion(): string;
  cleanup(): void;
}
const NDC = 'node-datachannel';
type Signal = { sdp: string; type: string } | { candidate: string; mid: string };

/** Counts deliveries from WARMUP ms after the first one until rate() is read. */
function counter() {
  let first = 0;
  let counted = 0;
  let stopped = false;
  return {
    hit() {
      if (stopped) return;
      const now = performance.now();
      if (!first) first = now;
      if (now - first >= WARMUP) counted++;
    },
    rate(): number {
      stopped = true;
      const ms = performance.now() - first - WARMUP;
      return ms > 0 ? (counted * 1000) / ms : 0;
    },
  };
}

async function blast(send: () => void, ms: number): Promise<void> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    for (let k = 0; k < BATCH; k++) send();
    await new Promise((r) => setImmediate(r));
  }
}

async function loadNdc(): Promise<Ndc | string> {
  try {
    return (await import(NDC)) as Ndc;
  } catch (err) {
    return `node-datachannel is not installed (${(err as Error).message.split('\n')[0]})`;
  }
}

/**
 * One end of a data channel, signalled through `signal`/`onSignal` (a direct call in one process,
 * IPC between two). Descriptions and candidates are applied on a later turn of the event loop,
 * candidates only once the description is in: applied from inside the library's callback, they
 * are refused, or the channel closes and the process crashes at exit.
 */
function channelEnd(ndc: Ndc, name: string, initiator: boolean, signal: (s: Signal) => void) {
  const pc: PeerConnection = new ndc.PeerConnection(name, { iceServers: [], bindAddress: '127.0.0.1' });
  let described = false;
  const pending: { candidate: string; mid: string }[] = [];
  pc.onLocalDescription((sdp, type) => signal({ sdp, type }));
  pc.onLocalCandidate((candidate, mid) => signal({ candidate, mid }));
  const channel = new Promise<Channel>((resolve) => {
    if (initiator) {
      const dc = pc.createDataChannel('wg', { unordered: true, maxRetransmits: 0 });
      dc.onOpen(() => resolve(dc));
    } else {
      pc.onDataChannel(resolve);
    }
  });
  return {
    channel,
    onSignal(s: Signal) {
      setImmediate(() => {
        if ('sdp' in s) {
          pc.setRemoteDescription(s.sdp, s.type);
          described = true;
          for (const c of pending.splice(0)) pc.addRemoteCandidate(c.candidate, c.mid);
        } else if (described) {
          pc.addRemoteCandidate(s.candidate, s.mid);
        } else {
          pending.push(s);
        }
      });
    },
    close: () => pc.close(),
  };
}

const sendOn = (c: Channel) => (d: Uint8Array) => {
  if (c.bufferedAmount() < BUFFER_LIMIT) c.sendMessageBinary(Buffer.from(d.buffer, d.byteOffset, d.length));
};

// ---- table 1: the transports bare, in one process -----------------------------------------------

async function plainUdp(size: number): Promise<number> {
  const rx = createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
  const tx = createSocket('udp4');
  await new Promise<void>((r) => rx.bind(0, '127.0.0.1', () => r()));
  const count = counter();
  rx.on('message', () => count.hit());
  const payload = Buffer.alloc(size, 7);
  const port = rx.address().port;
  await blast(() => tx.send(payload, port, '127.0.0.1'), DURATION);
  const rate = count.rate();
  rx.close();
  tx.close();
  return rate;
}

async function bareChannel(ndc: Ndc, size: number): Promise<number> {
  const ends: ReturnType<typeof channelEnd>[] = [];
  ends.push(channelEnd(ndc, 'a', true, (s) => ends[1].onSignal(s)));
  ends.push(channelEnd(ndc, 'b', false, (s) => ends[0].onSignal(s)));
  const [tx, rx] = await Promise.all(ends.map((e) => e.channel));
  const count = counter();
  rx.onMessage(() => count.hit());
  const payload = Buffer.alloc(size, 7);
  const send = sendOn(tx);
  await blast(() => send(payload), DURATION);
  const rate = count.rate();
  for (const e of ends) e.close();
  return rate;
}

/** Child: the bare data channel figures for every setting, sent to the parent. */
async function bareChannelChild(): Promise<void> {
  const ndc = await loadNdc();
  if (typeof ndc === 'string') return void process.send!({ error: ndc });
  const rates: Record<string, Record<number, number>> = {};
  for (const [name, s] of Object.entries(SETTINGS)) {
    if (s) ndc.setSctpSettings(s);
    rates[name] = {};
    for (const size of SIZES) rates[name][size] = await bareChannel(ndc, size);
  }
  process.send!({ version: ndc.getLibraryVersion(), rates });
  ndc.cleanup();
  process.disconnect!();
}

// ---- table 2: WireGuard over each, one mesh per process ---------------------------------------

type Command =
  | { start: { address: string; relay: boolean } }
  | { peers: MeshOptions['peers'] }
  | { channel: { initiator: boolean; peer: string; settings?: typeof TUNED } }
  | { signal: Signal }
  | { connect: string }
  | { count: true }
  | { blast: { to: string; size: number } }
  | { report: true }
  | { exit: true };

/** Child: one mesh, driven by the parent's commands; answers each with a message. */
async function meshChild(): Promise<void> {
  let mesh: Mesh;
  let channel: ReturnType<typeof channelEnd> | undefined;
  let ndc: Ndc | undefined;
  let count: ReturnType<typeof counter> | undefined;
  let cpuFrom: NodeJS.CpuUsage | undefined;
  const cpuSince = (from: NodeJS.CpuUsage) => { const d = process.cpuUsage(from); return d.user + d.system; };
  const reply = (m: object) => process.send!(m);
  process.on('message', async (c: Command) => {
    if ('start' in c) {
      const secret = generateSecret();
      mesh = await createMesh({
        mode: 'userspace', address: c.start.address, privateKey: secret, listenPort: 0, bindAddress: '127.0.0.1',
        peers: [], relay: c.start.relay, logger: pino({ level: 'silent' }),
      });
      reply({ hello: { publicKey: formatKey(publicKeyOf(secret)), port: mesh.device!.port } });
    } else if ('peers' in c) {
      mesh.setPeers(c.peers);
      reply({ ok: true });
    } else if ('channel' in c) {
      const loaded = await loadNdc();
      if (typeof loaded === 'string') return reply({ error: loaded });
      ndc = loaded;
      if (c.channel.settings) ndc.setSctpSettings(c.channel.settings);
      channel = channelEnd(ndc, mesh.address, c.channel.initiator, (signal) => reply({ signal }));
      const dc = await channel.channel;
      // The far mesh's only path is now the data channel.
      const device = mesh.device!;
      device.setRelay('dc', sendOn(dc));
      dc.onMessage((m) => device.receiveDatagram(m as Buffer, { relay: 'dc' }));
      device.setEndpoint(c.channel.peer, { relay: 'dc' });
      reply({ ok: true });
    } else if ('signal' in c) {
      channel?.onSignal(c.signal);
    } else if ('connect' in c) {
      await mesh.whenConnected(c.connect, 10_000);
      reply({ ok: true });
    } else if ('count' in c) {
      const counting = counter();
      count = counting;
      cpuFrom = process.cpuUsage();
      await mesh.bind(PORT, () => counting.hit());
      reply({ ok: true });
    } else if ('blast' in c) {
      const socket = await mesh.bind(0, () => {});
      const payload = Buffer.alloc(c.blast.size, 7);
      cpuFrom = process.cpuUsage();
      await blast(() => socket.send(c.blast.to, PORT, payload), DURATION);
      socket.close();
      reply({ cpuUs: cpuSince(cpuFrom) });
    } else if ('report' in c) {
      reply({ rate: count!.rate(), cpuUs: cpuSince(cpuFrom!) });
    } else if ('exit' in c) {
      await mesh.close();
      channel?.close();
      ndc?.cleanup();
      process.disconnect!();
    }
  });
}

interface Child {
  process: ChildProcess;
  ask(c: Command): Promise<any>;
  /** Data channel signalling the child sends out (for the other end). */
  onSignal(f: (s: Signal) => void): void;
  exited: Promise<string>;
}

function forkChild(role: string): Child {
  const child = fork(fileURLToPath(import.meta.url), [], { env: { ...process.env, [ROLE]: role }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const answers: ((m: any) => void)[] = [];
  const signals: ((s: Signal) => void)[] = [];
  child.on('message', (m: any) => {
    if (m.signal) signals.forEach((f) => f(m.signal));
    else answers.shift()?.(m);
  });
  const exited = new Promise<string>((resolve) => child.on('exit', (code, signal) => resolve(signal ? `killed by ${signal}` : `exit code ${code}`)));
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  void exited.then(() => clearTimeout(timer));
  return {
    process: child,
    ask: (c) => new Promise((resolve, reject) => {
      answers.push((m) => (m.error ? reject(new Error(m.error)) : resolve(m)));
      child.send(c);
    }),
    onSignal: (f) => signals.push(f),
    exited,
  };
}

type Path = 'udp' | 'relay' | keyof typeof SETTINGS;

/** Two meshes (and a hub when relayed), each in its own process; messages/s from A to B. */
async function wireguardOver(path: Path, size: number, exits: string[]): Promise<{ rate: number; cpuUsPerMessage: number }> {
  const roles = path === 'relay' ? ['10.77.0.1', '10.77.0.2', '10.77.0.3'] : ['10.77.0.2', '10.77.0.3'];
  const children = roles.map(() => forkChild('mesh'));
  try {
    const hellos = await Promise.all(children.map((c, i) => c.ask({ start: { address: roles[i], relay: i === 0 && path === 'relay' } })));
    const peer = (i: number, via?: string) => ({
      name: `n${i}`, publicKey: hellos[i].hello.publicKey, address: roles[i], allowedIPs: [`${roles[i]}/32`],
      ...(via ? { via } : { endpoint: `127.0.0.1:${hellos[i].hello.port}` }),
    });
    let a: Child;
    let b: Child;
    if (path === 'relay') {
      [, a, b] = children;
      await children[0].ask({ peers: [peer(1), peer(2)] });
      await a.ask({ peers: [peer(0), peer(2, 'n0')] });
      await b.ask({ peers: [peer(0), peer(1, 'n0')] });
    } else {
      [a, b] = children;
      await a.ask({ peers: [peer(1)] });
      await b.ask({ peers: [peer(0)] });
      if (path !== 'udp') {
        children[0].onSignal((s) => children[1].process.send({ signal: s }));
        children[1].onSignal((s) => children[0].process.send({ signal: s }));
        const settings = SETTINGS[path];
        await Promise.all([
          a.ask({ channel: { initiator: true, peer: hellos[1].hello.publicKey, settings } }),
          b.ask({ channel: { initiator: false, peer: hellos[0].hello.publicKey, settings } }),
        ]);
      }
    }
    const to = roles.at(-1)!;
    await a.ask({ connect: to });
    await b.ask({ count: true });
    const sent = await a.ask({ blast: { to, size } });
    const got = await b.ask({ report: true });
    // CPU of sender and receiver (every thread: libdatachannel's are counted too), per message that arrived.
    return { rate: got.rate, cpuUsPerMessage: (sent.cpuUs + got.cpuUs) / (got.rate * DURATION / 1000) };
  } finally {
    for (const c of children) if (c.process.connected) c.process.send({ exit: true });
    exits.push(...(await Promise.all(children.map((c) => c.exited))));
  }
}

function bareChannelFigures(): Promise<{ version?: string; rates?: Record<string, Record<number, number>>; error?: string; exit: string }> {
  const child = forkChild('bare-channel');
  let figures: object = { error: 'no figures' };
  child.process.on('message', (m) => { figures = m as object; });
  return child.exited.then((exit) => ({ ...figures, exit }));
}

export default async function bench(): Promise<void> {
  const testbed = await testbedFigures();
  if (typeof testbed === 'string') console.log(`(NAT testbed figures not measured: ${testbed})\n`);
  else {
    console.log('Paths on the NAT testbed (network namespaces; onprem behind NAT A, leased behind NAT B):\n');
    printTable(testbed.times);
    console.log('\nThroughput on the testbed, one mesh process per host (tunnel MTU 1420):\n');
    printTable(testbed.throughput);
    console.log('');
  }
  const bare = await bareChannelFigures();
  const rows: Record<string, string | number>[] = [];
  for (const size of SIZES) {
    const udp = await plainUdp(size);
    rows.push({ size: `${size} B`, transport: 'plain UDP, two sockets', 'messages/s': udp, '/ UDP': '1.00' });
    for (const [name, bySize] of Object.entries(bare.rates ?? {})) {
      rows.push({ size: `${size} B`, transport: `data channel, ${name}`, 'messages/s': bySize[size], '/ UDP': (bySize[size] / udp).toFixed(2) });
    }
  }
  console.log('Transports bare, two peers in one process on loopback:\n');
  printTable(rows);
  console.log(bare.error ? `(data channels not measured: ${bare.error})\n` : `(node-datachannel with libdatachannel ${bare.version}; its process ended: ${bare.exit})\n`);

  const ndc = await loadNdc();
  const paths: Path[] = ['udp', ...(typeof ndc === 'string' ? [] : (Object.keys(SETTINGS) as Path[])), 'relay'];
  const label: Record<string, string> = { udp: 'directly over UDP', relay: 'through the hub relay (3 processes)' };
  const mesh: Record<string, string | number>[] = [];
  const exits: Record<string, string[]> = {};
  for (const size of SIZES) {
    const results = new Map<Path, { rate: number; cpuUsPerMessage: number }>();
    for (const p of paths) results.set(p, await wireguardOver(p, size, (exits[p] ??= [])));
    const relayed = results.get('relay')!.rate;
    for (const p of paths) {
      const { rate, cpuUsPerMessage } = results.get(p)!;
      mesh.push({
        size: `${size} B`, 'two meshes': label[p] ?? `over a data channel, ${p}`, 'messages/s': rate,
        '/ relayed': (rate / relayed).toFixed(2), 'MB/s': (rate * size) / 1e6, 'CPU µs / message (ends)': cpuUsPerMessage,
      });
    }
  }
  console.log('WireGuard carried by each, one mesh per process on loopback:\n');
  printTable(mesh);
  const crashed = Object.entries(exits).filter(([p]) => p in SETTINGS).flatMap(([, e]) => e).filter((e) => e !== 'exit code 0');
  console.log(`(tunnel MTU 1420; processes with a data channel that did not exit cleanly: ${crashed.length ? crashed.join(', ') : 'none'})`);
}

// ---- table 3: paths on the NAT testbed (root) ------------------------------------------------

const pinoTime = (l: string) => (JSON.parse(l) as { time: number }).time;

/**
 * A fleet joined by genesis (admin, hub, onprem behind NAT A, leased behind NAT B), `ppn`
 * processes: ms from a node's first boot (`ppn join`) to its first executed command; from the
 * later of onprem and leased running until each is direct; after the direct path is cut at
 * NAT A, until each falls back; after it is mended, until each is direct again.
 */
async function genesisTimes(bed: NatTestbed): Promise<Record<string, string | number>[]> {
  const fleet = await startGenesisFleet(bed, scratchDir('nat-bench'), ['admin', 'hub', 'onprem', 'leased']);
  try {
    const onprem = fleet.node('onprem');
    const leased = fleet.node('leased');
    const first = await Promise.all([fleet.command('onprem'), fleet.command('leased')]);
    const bootToCommand = [onprem, leased].map((n, i) => first[i].at - fleet.bootedAt.get(n.host)!);
    const running = Math.max(...[onprem, leased].map((n) => pinoTime(n.lines.all.find((l) => l.includes('"msg":"pipeline running"'))!)));
    const change = (n: GenesisNode, peer: string, reason: string, since: number) =>
      n.log('peer path changed', (r) => r.peer === peer && r.reason === reason, 60_000, since).then((r) => r.time as number);
    const both = (reason: string, since: [number, number]) => Promise.all([change(onprem, 'leased', reason, since[0]), change(leased, 'onprem', reason, since[1])]);
    const mark = (): [number, number] => [onprem.lines.all.length, leased.lines.all.length];
    const direct = await both('upgrade', [0, 0]);
    const rule = ['FORWARD', '-d', bed.publicAddress('leased'), '-j', 'DROP'];
    let since = mark();
    const cut = Date.now();
    await bed.exec('nat-A', 'iptables', ['-I', ...rule]);
    const fell = await both('direct path died', since);
    since = mark();
    const mended = Date.now();
    await bed.exec('nat-A', 'iptables', ['-D', ...rule]);
    const back = await both('upgrade', since);
    return [
      { 'genesis fleet on the testbed': 'first boot (ppn join) → first executed command', 'onprem ms': bootToCommand[0], 'leased ms': bootToCommand[1] },
      { 'genesis fleet on the testbed': 'both running → direct', 'onprem ms': direct[0] - running, 'leased ms': direct[1] - running },
      { 'genesis fleet on the testbed': 'direct path cut → relayed', 'onprem ms': fell[0] - cut, 'leased ms': fell[1] - cut },
      { 'genesis fleet on the testbed': 'mended → direct again (5 s hold-down)', 'onprem ms': back[0] - mended, 'leased ms': back[1] - mended },
    ];
  } finally {
    await fleet.stop();
  }
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const BLASTER = fileURLToPath(new URL('./udp-blast.js', import.meta.url));

/**
 * Plain UDP (udp-blast.ts, no mesh) from `from` to `to` on the testbed, measured as the mesh is:
 * what the path itself allows — veths, and through NATs their forwarding and conntrack. Behind
 * two NATs the receiver punches first (both NATs keep ports), so the sender's datagrams get in.
 */
async function plainUdpOnTestbed(bed: NatTestbed, from: Host, to: Host, size: number): Promise<number> {
  const port = 47000;
  const start = (h: Host) => {
    const child = spawn('ip', ['netns', 'exec', bed.ns(h), process.execPath, BLASTER, String(port)], { stdio: ['pipe', 'pipe', 'pipe'] });
    const lines = watchLines(child);
    const ask = async (command: object, answer: RegExp) => {
      const since = lines.all.length;
      child.stdin!.write(`${JSON.stringify(command)}\n`);
      return JSON.parse(await lines.waitFor(answer, DURATION + 10_000, `${h}: ${answer}`, since));
    };
    return { lines, ask, stop: () => (child.stdin!.end(), stopChild(child)) };
  };
  const [tx, rx] = [start(from), start(to)];
  try {
    await Promise.all([tx.lines.waitFor(/"ready"/, 10_000, 'blaster ready'), rx.lines.waitFor(/"ready"/, 10_000, 'sink ready')]);
    const direct = bed.routerOf(from) === bed.routerOf(to);
    const toAddress = direct ? bed.address(to) : bed.publicAddress(to);
    if (!direct) await rx.ask({ punch: { host: bed.publicAddress(from), port } }, /"punched"/);
    const before = (await rx.ask({ count: true }, /"received"/)).received as number;
    await tx.ask({ blast: { host: toAddress, port, size, ms: DURATION } }, /"blasted"/);
    // Datagrams in flight arrive within a moment of the sender stopping.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const after = (await rx.ask({ count: true }, /"received"/)).received as number;
    return (after - before) / (DURATION / 1000);
  } finally {
    await Promise.all([tx.stop(), rx.stop()]);
  }
}

/**
 * Throughput between mesh nodes (one process each, nat-node.ts) on the testbed: onprem → leased
 * direct (through NAT A and NAT B), the same pair relayed by the hub (their direct path cut), and
 * office1 → office2 on one plain LAN (behind NAT C, direct at their LAN addresses). Messages/s
 * and MB/s received, ratios against the LAN, and the hub's CPU per relayed message.
 */
async function testbedThroughput(bed: NatTestbed): Promise<Record<string, string | number>[]> {
  const nodes = await startFleet(bed, ['hub', 'onprem', 'leased', 'office1', 'office2']);
  const n = (h: Host) => nodes.get(h)!;
  const rows: Record<string, string | number>[] = [];
  try {
    await n('onprem').echo('leased', 'warm up');
    await n('office1').echo('office2', 'warm up');
    await Promise.all([n('onprem').pathChange('leased', 'upgrade', 60_000), n('office1').pathChange('office2', 'upgrade', 60_000)]);
    const measure = async (from: Host, to: Host, size: number) => {
      const before = await n(to).count();
      const cpu = cpuSeconds(n('hub').child.pid!);
      await n(from).blast(to, size, DURATION);
      // Datagrams in flight arrive within a moment of the sender stopping.
      await new Promise((resolve) => setTimeout(resolve, 200));
      const after = await n(to).count();
      const received = after.received - before.received;
      return { rate: received / (DURATION / 1000), hubCpuUs: ((cpuSeconds(n('hub').child.pid!) - cpu) * 1e6) / Math.max(received, 1) };
    };
    const rule = ['FORWARD', '-d', bed.publicAddress('leased'), '-j', 'DROP'];
    for (const size of SIZES) {
      const lan = await measure('office1', 'office2', size);
      const direct = await measure('onprem', 'leased', size);
      const since = n('onprem').lines.all.length;
      await bed.exec('nat-A', 'iptables', ['-I', ...rule]);
      let relayed: Awaited<ReturnType<typeof measure>>;
      try {
        await n('onprem').pathChange('leased', 'direct path died', 15_000, since);
        relayed = await measure('onprem', 'leased', size);
      } finally {
        await bed.exec('nat-A', 'iptables', ['-D', ...rule]);
      }
      await n('onprem').pathChange('leased', 'upgrade', 60_000, since);
      for (const [name, r] of [['office1 → office2, plain LAN (behind one NAT)', lan], ['onprem → leased, direct through two NATs', direct], ['onprem → leased, relayed by the hub', relayed]] as const) {
        rows.push({
          size: `${size} B`, path: name, 'messages/s': r.rate, 'MB/s': (r.rate * size) / 1e6, '/ LAN': (r.rate / lan.rate).toFixed(2),
          'hub CPU µs / message': name.includes('relayed') ? r.hubCpuUs : '',
        });
      }
      // The same two paths without the mesh: how much of the direct path's gap to the LAN is the
      // NATs' own (kernel forwarding and conntrack through two more namespaces, on 2 cores).
      const udpLan = await plainUdpOnTestbed(bed, 'office1', 'office2', size);
      const udpNat = await plainUdpOnTestbed(bed, 'onprem', 'leased', size);
      for (const [name, rate] of [['office1 → office2, plain UDP, no mesh', udpLan], ['onprem → leased, plain UDP through two NATs, no mesh', udpNat]] as const) {
        rows.push({ size: `${size} B`, path: name, 'messages/s': rate, 'MB/s': (rate * size) / 1e6, '/ LAN': (rate / udpLan).toFixed(2), 'hub CPU µs / message': '' });
      }
    }
  } finally {
    await Promise.all([...nodes.values()].map((x) => x.stop()));
  }
  return rows;
}

/** Both testbed tables, on one testbed; a string says why they were not measured. */
export async function testbedFigures(): Promise<{ times: Record<string, string | number>[]; throughput: Record<string, string | number>[] } | string> {
  const why = canUseNetns();
  if (why) return why;
  const bed = await createNatTestbed();
  try {
    const times = await genesisTimes(bed);
    for (const r of ['A', 'B', 'R', 'C'] as const) await bed.flush(r);
    return { times, throughput: await testbedThroughput(bed) };
  } finally {
    await bed.destroy();
  }
}

const role = process.env[ROLE];
if (role === 'bare-channel') await bareChannelChild();
else if (role === 'mesh') await meshChild();
