// Userspace WireGuard like for like: ours and wireguard-go between the same two network
// namespaces over the same veth, the same payloads, the same sender loop and the same counting
// at the receiver, one after the other in this run; beside them the physical limits — bare UDP
// over that veth, and ChaCha20-Poly1305 seal and open per second on one core.
//
// Every leg is two processes, one per namespace, each a child of this same file:
//  - bare veth: a plain UDP socket sends 192.0.2.1 → 192.0.2.2;
//  - wireguard-go: a wireguard-go in each namespace; plain UDP sockets send through its TUN
//    interface (10.99.1.1 → 10.99.1.2);
//  - ours: our device in each namespace on the veth address, sending through `sendUdp` and
//    counting on `bindUdp` (10.99.2.1 → 10.99.2.2), once per AEAD backend (aead.ts).
// The sender writes as fast as it can in batches of BATCH, yielding to the event loop between
// batches; the receiver counts datagrams for DURATION ms, from WARMUP ms after the first one.
// Tunnel MTU 1500 in both (veth 1600), so 1,400-byte payloads cross unfragmented.
// Needs root, ip netns and wireguard-go; without them it prints why and measures only the crypto.
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { aeadBackend, sodiumUnavailable, TAG_LEN, type Aead, type AeadName } from '../core/wireguard/aead.js';
import { createDevice } from '../core/wireguard/device.js';
import { formatKey, generateSecret, publicKeyOf } from '../core/keys/index.js';
import { canUseNetns } from '../test/support/root.js';
import { createNetnsPair, run, startWireguardGo, stop, watchLines, type NetnsPair } from '../test/wireguard/netns.js';
import { printTable } from './table.js';

const DURATION = 3000;
const WARMUP = 500;
const SIZES = [64, 1400];
const BATCH = 128;
const PORT = 9000;
const WG_PORT = 51821;
/** IPv4 + UDP headers: what the tunnel seals around a payload (before padding to 16). */
const INNER_OVERHEAD = 28;

interface Count {
  packets: number;
  bytes: number;
  ms: number;
}

// ---- the two ends every leg shares ------------------------------------------------------------

/** Counts arrivals for DURATION ms from WARMUP after the first; prints the count as one JSON line. */
function counter(): (length: number) => void {
  let first = 0;
  const c: Count = { packets: 0, bytes: 0, ms: DURATION };
  return (length) => {
    const now = performance.now();
    if (!first) {
      first = now;
      setTimeout(() => { console.log(JSON.stringify(c)); process.exit(0); }, WARMUP + DURATION);
    }
    const t = now - first - WARMUP;
    if (t < 0 || t > DURATION) return;
    c.packets++;
    c.bytes += length;
  };
}

async function blast(send: () => void): Promise<void> {
  const end = performance.now() + WARMUP + DURATION + 500;
  while (performance.now() < end) {
    for (let k = 0; k < BATCH; k++) send();
    await new Promise((r) => setImmediate(r));
  }
}

interface Role {
  role: 'udp-receiver' | 'udp-sender' | 'ours-receiver' | 'ours-sender';
  /** Own (veth or tunnel) address; for ours, the veth address the device binds to. */
  local: string;
  /** Tunnel address, for ours. */
  tunnel?: string;
  /** Where to send: a veth or tunnel address. */
  to?: string;
  size?: number;
  secret?: string;
  peer?: string;
  peerTunnel?: string;
  endpoint?: string;
  aead?: AeadName;
}

async function child(r: Role): Promise<void> {
  if (r.role === 'udp-receiver') {
    const s = createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
    const count = counter();
    s.on('message', (m) => count(m.length));
    s.bind(PORT, r.local, () => console.log('ready'));
  } else if (r.role === 'udp-sender') {
    const s = createSocket('udp4');
    const payload = Buffer.alloc(r.size!, 0x61);
    await new Promise<void>((resolve) => s.bind(0, r.local, resolve));
    await blast(() => s.send(payload, PORT, r.to!));
    s.close();
  } else {
    const device = await createDevice({
      privateKey: r.secret!, address: r.tunnel!, bindAddress: r.local, listenPort: WG_PORT, mtu: 1500, aead: r.aead,
    });
    device.addPeer({ publicKey: r.peer!, allowedIPs: [`${r.peerTunnel}/32`], ...(r.endpoint ? { endpoint: r.endpoint } : {}) });
    if (r.role === 'ours-receiver') {
      const count = counter();
      device.bindUdp(PORT, (payload) => count(payload.length));
      console.log('ready');
      return;
    }
    const handshake = new Promise((resolve) => device.once('handshake', resolve));
    device.sendUdp(PORT, r.peerTunnel!, 1, Buffer.alloc(1));
    await handshake;
    const payload = Buffer.alloc(r.size!, 0x61);
    await blast(() => device.sendUdp(PORT, r.peerTunnel!, PORT, payload));
    await device.close();
  }
}

// ---- the parent: one leg = a receiver in namespace b, then a sender in namespace a --------------

const self = fileURLToPath(import.meta.url);

async function leg(ns: NetnsPair, receiver: Role, sender: Role): Promise<Count> {
  const env = (r: Role) => ({ ...process.env, PPN_WG_NETNS_BENCH: JSON.stringify(r) });
  const rx = spawn('ip', ['netns', 'exec', ns.b, process.execPath, self], { env: env(receiver), stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = watchLines(rx);
  try {
    await lines.waitFor(/^ready$/, 10_000, `${receiver.role} ready`);
    const tx = spawn('ip', ['netns', 'exec', ns.a, process.execPath, self], { env: env(sender), stdio: ['ignore', 'ignore', 'inherit'] });
    try {
      const line = await lines.waitFor(/^\{/, WARMUP + DURATION + 15_000, `${receiver.role} count`);
      return JSON.parse(line) as Count;
    } finally {
      await stop(tx);
    }
  } finally {
    await stop(rx);
  }
}

/** Seal and open per second on one core for an inner packet carrying `payload` bytes (padded to 16). */
function aeadRates(aead: Aead, payload: number, ms = 300): { seal: number; open: number } {
  const inner = (payload + INNER_OVERHEAD + 15) & ~15;
  const key = Buffer.alloc(32, 7);
  const nonce = Buffer.alloc(12);
  const buf = Buffer.alloc(inner + TAG_LEN);
  const rate = (op: () => void) => {
    for (let i = 0; i < 2000; i++) op();
    let best = 0;
    for (let round = 0; round < 3; round++) {
      let n = 0;
      const start = performance.now();
      while (performance.now() - start < ms) for (let i = 0; i < 500; i++, n++) op();
      best = Math.max(best, (n * 1000) / (performance.now() - start));
    }
    return best;
  };
  const seal = rate(() => { nonce[4]++; aead.sealInPlace(key, nonce, buf); });
  const sealed = Buffer.from(buf);
  const box = Buffer.alloc(sealed.length);
  // Each open decrypts a fresh copy of the box (in place would destroy it): the copy is part of the cost.
  const open = rate(() => { sealed.copy(box); if (!aead.openInPlace(key, nonce, box)) throw new Error('bench: open refused'); });
  return { seal, open };
}

export default async function bench(): Promise<void> {
  const backends: AeadName[] = sodiumUnavailable() ? ['node'] : ['sodium', 'node'];
  const limits: Record<string, string | number>[] = [];
  for (const size of SIZES) {
    for (const name of backends) {
      const r = aeadRates(aeadBackend(name), size);
      limits.push({ 'UDP payload': `${size} B`, backend: name === 'sodium' ? 'libsodium (sodium-native)' : 'node:crypto', 'seal/s, one core': r.seal, 'open/s, one core': r.open });
    }
  }
  printTable(limits);
  console.log(`(ChaCha20-Poly1305 over the padded inner packet: payload + ${INNER_OVERHEAD} B of IPv4/UDP headers, to 16 B;` +
    `${sodiumUnavailable() ? ` sodium-native does not load: ${sodiumUnavailable()}` : ''})`);
  console.log();

  let why = canUseNetns();
  if (!why && (await run('sh', ['-c', 'command -v wireguard-go'])).code !== 0) why = 'wireguard-go is not installed';
  if (why) {
    console.log(`like-for-like comparison skipped (${why}): it needs root, ip netns and wireguard-go`);
    return;
  }
  const id = `n${String(process.pid).slice(-4)}`;
  const ns = await createNetnsPair(id, 1600);
  const ka = generateSecret();
  const kb = generateSecret();
  const rows: Record<string, string | number>[] = [];
  let wa: Awaited<ReturnType<typeof startWireguardGo>> | undefined;
  let wb: Awaited<ReturnType<typeof startWireguardGo>> | undefined;
  try {
    wa = await startWireguardGo(ns.a, `ppnwg${id}a`, '10.99.1.1/24', 1500);
    wb = await startWireguardGo(ns.b, `ppnwg${id}b`, '10.99.1.2/24', 1500);
    await wa.configure({ privateKey: ka, listenPort: 51820, peers: [{ publicKey: publicKeyOf(kb), endpoint: `${ns.addressB}:51820`, allowedIPs: ['10.99.1.2/32'] }] });
    await wb.configure({ privateKey: kb, listenPort: 51820, peers: [{ publicKey: publicKeyOf(ka), endpoint: `${ns.addressA}:51820`, allowedIPs: ['10.99.1.1/32'] }] });
    for (const size of SIZES) {
      const pps = (c: Count) => (c.packets * 1000) / c.ms;
      const bare = await leg(ns, { role: 'udp-receiver', local: ns.addressB }, { role: 'udp-sender', local: ns.addressA, to: ns.addressB, size });
      const go = await leg(ns, { role: 'udp-receiver', local: '10.99.1.2' }, { role: 'udp-sender', local: '10.99.1.1', to: '10.99.1.2', size });
      const ours = new Map<AeadName, Count>();
      for (const aead of backends) {
        ours.set(aead, await leg(ns,
          { role: 'ours-receiver', local: ns.addressB, tunnel: '10.99.2.2', secret: formatKey(kb), peer: formatKey(publicKeyOf(ka)), peerTunnel: '10.99.2.1', aead },
          { role: 'ours-sender', local: ns.addressA, tunnel: '10.99.2.1', secret: formatKey(ka), peer: formatKey(publicKeyOf(kb)), peerTunnel: '10.99.2.2', endpoint: `${ns.addressB}:${WG_PORT}`, size, aead }));
      }
      const row: Record<string, string | number> = {
        'UDP payload': `${size} B`,
        'bare veth UDP packets/s': pps(bare),
        'wireguard-go packets/s': pps(go),
      };
      for (const [aead, c] of ours) row[`ours (${aead}) packets/s`] = pps(c);
      const best = ours.get(backends[0])!;
      row[`ours (${backends[0]}) / wireguard-go`] = `${(pps(best) / pps(go)).toFixed(2)}×`;
      row[`ours (${backends[0]}) / bare veth`] = `${(pps(best) / pps(bare)).toFixed(2)}×`;
      if (ours.has('node')) row['ours (node) / wireguard-go'] = `${(pps(ours.get('node')!) / pps(go)).toFixed(2)}×`;
      row['ours MB/s'] = best.bytes / best.ms / 1000;
      rows.push(row);
    }
  } finally {
    await wa?.stop();
    await wb?.stop();
    await ns.destroy();
  }
  printTable(rows);
  console.log(`(two namespaces joined by one veth; each leg a sender process in one and a receiver process in the other,
 run one after the other; payload datagrams counted at the receiver over ${DURATION / 1000} s; lost ones are not counted)`);
}

if (process.env.PPN_WG_NETNS_BENCH) await child(JSON.parse(process.env.PPN_WG_NETNS_BENCH) as Role);
