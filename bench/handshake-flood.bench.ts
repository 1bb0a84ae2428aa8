// Handshake floods (issue 12, item 6): data packets/s one peer gets through to a device while a
// second source floods that device with handshake initiations (valid mac1: public keys are
// public) as fast as this machine can send, beside the same data with no flood, in one run.
// Three processes on loopback: the receiving device, the data sender (a real peer with a
// session, writing 64-byte UDP datagrams as fast as it can) and the flooder (a plain UDP
// socket). The receiver counts datagrams delivered on its mesh address for DURATION ms.
import { fork, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { dh, generateSecret, keyPairFromPrivate, publicKeyOf } from '../core/keys/index.js';
import { COOKIE_REFRESH_TIME } from '../core/wireguard/constants.js';
import { addMacs, createCookieGenerator } from '../core/wireguard/cookie.js';
import { createDevice, type DropCounts } from '../core/wireguard/device.js';
import { createInitiation } from '../core/wireguard/noise.js';
import { tai64n } from '../core/wireguard/tai64n.js';
import { printTable } from './table.js';

const DURATION = 3000;
const WARMUP = 500;
const BATCH = 64;
const PORT = 9000;

type Msg = Record<string, unknown>;

function next(child: ChildProcess, key: string, ms = 20_000): Promise<Msg> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no '${key}' from a bench child within ${ms} ms`)), ms);
    const on = (m: Msg) => {
      if (!(key in m)) return;
      clearTimeout(t);
      child.off('message', on);
      resolve(m);
    };
    child.on('message', on);
  });
}

async function blast(send: () => void, running: () => boolean): Promise<void> {
  while (running()) {
    for (let k = 0; k < BATCH; k++) send();
    await new Promise((r) => setImmediate(r));
  }
}

// ---- children ------------------------------------------------------------------------------------

async function receiver(): Promise<void> {
  const secret = generateSecret();
  const device = await createDevice({ privateKey: secret, address: '10.77.0.2', bindAddress: '127.0.0.1' });
  let counting = false;
  let count = 0;
  device.bindUdp(PORT, () => { if (counting) count++; });
  process.on('message', (m: Msg) => {
    if (m.peer) device.addPeer({ publicKey: m.peer as string, allowedIPs: ['10.77.0.1/32'] });
    if (m.measure) {
      const before = device.stats().drops;
      count = 0;
      counting = true;
      setTimeout(() => {
        counting = false;
        const after = device.stats().drops;
        const drops: DropCounts = {};
        for (const [k, v] of Object.entries(after) as [keyof DropCounts, number][]) drops[k] = v - (before[k] ?? 0);
        process.send!({ measured: count, drops });
      }, m.measure as number);
    }
  });
  process.send!({ ready: true, port: device.port, publicKey: Buffer.from(publicKeyOf(secret)).toString('base64') });
}

async function sender(bPort: number, bKey: string): Promise<void> {
  const secret = generateSecret();
  const device = await createDevice({ privateKey: secret, address: '10.77.0.1', bindAddress: '127.0.0.1' });
  device.addPeer({ publicKey: bKey, allowedIPs: ['10.77.0.2/32'], endpoint: `127.0.0.1:${bPort}` });
  const payload = Buffer.alloc(64);
  const up = new Promise<void>((resolve) => device.once('handshake', () => resolve()));
  process.send!({ ready: true, publicKey: Buffer.from(publicKeyOf(secret)).toString('base64') });
  device.sendUdp(PORT, '10.77.0.2', PORT, payload);
  await up;
  let running = true;
  process.on('message', (m: Msg) => { if (m.stop) running = false; });
  process.send!({ sending: true });
  await blast(() => device.sendUdp(PORT, '10.77.0.2', PORT, payload), () => running);
  await device.close();
  process.exit(0);
}

/** Floods at `rate` initiations/s, or as fast as it can when `rate` is 0. */
async function flooder(bPort: number, bKey: string, rate: number): Promise<void> {
  const target = Buffer.from(bKey, 'base64');
  const stranger = keyPairFromPrivate(generateSecret());
  const { message } = createInitiation(stranger, target, dh(stranger.privateKey, target)!, 1, tai64n(Date.now()));
  addMacs(createCookieGenerator(target), message, 0, COOKIE_REFRESH_TIME);
  const socket = createSocket('udp4');
  let running = true;
  let sent = 0;
  process.on('message', (m: Msg) => { if (m.stop) running = false; });
  process.send!({ flooding: true });
  const start = performance.now();
  const send = () => { socket.send(message, bPort, '127.0.0.1'); sent++; };
  if (rate === 0) {
    await blast(send, () => running);
  } else {
    const tick = 5;
    const timer = setInterval(() => { for (let k = 0; k < (rate * tick) / 1000; k++) send(); }, tick);
    await new Promise<void>((resolve) => { const poll = setInterval(() => { if (!running) { clearInterval(poll); resolve(); } }, 10); });
    clearInterval(timer);
  }
  process.send!({ flooded: (sent * 1000) / (performance.now() - start) });
  socket.close();
  process.exit(0);
}

// ---- the run -----------------------------------------------------------------------------------

const self = fileURLToPath(import.meta.url);
const spawnChild = (...args: string[]) => fork(self, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });

export default async function bench(): Promise<void> {
  const rx = spawnChild('receiver');
  const children = [rx];
  try {
    const r = await next(rx, 'ready');
    const tx = spawnChild('sender', String(r.port), r.publicKey as string);
    children.push(tx);
    const t = await next(tx, 'ready');
    rx.send({ peer: t.publicKey });
    await next(tx, 'sending');
    await new Promise((res) => setTimeout(res, WARMUP));
    rx.send({ measure: DURATION });
    const quiet = await next(rx, 'measured');
    const pps = (m: Msg) => ((m.measured as number) * 1000) / DURATION;

    // The rate (20k/s), then the highest rate this machine can send.
    const rows: Record<string, string | number>[] = [
      { case: 'no flood', 'initiations/s sent': 0, 'data packets/s delivered': Math.round(pps(quiet)), 'vs no flood': '1.00' },
    ];
    const dropLines: string[] = [];
    for (const target of [20_000, 0]) {
      const fl = spawnChild('flooder', String(r.port), r.publicKey as string, String(target));
      children.push(fl);
      await next(fl, 'flooding');
      await new Promise((res) => setTimeout(res, WARMUP));
      rx.send({ measure: DURATION });
      const flooded = await next(rx, 'measured');
      const floodRate = next(fl, 'flooded');
      fl.send({ stop: true });
      const rate = (await floodRate).flooded as number;
      const label = target ? '20k/s' : 'as fast as it can';
      rows.push({
        case: `one-source flood, ${label}`, 'initiations/s sent': Math.round(rate),
        'data packets/s delivered': Math.round(pps(flooded)), 'vs no flood': (pps(flooded) / pps(quiet)).toFixed(2),
      });
      const d = flooded.drops as DropCounts;
      dropLines.push(`${label}: ${JSON.stringify({
        'cookie required': d['handshake: cookie required'] ?? 0, 'unknown peer (DH done)': d['initiation: unknown peer'] ?? 0,
        'rate limited': d['handshake: rate limited'] ?? 0, 'queue full': d['handshake: queue full'] ?? 0,
      })}`);
    }
    tx.send({ stop: true });
    printTable(rows);
    console.log(`\nreceiver's handshake drops in the measured ${DURATION} ms:\n${dropLines.join('\n')}`);
  } finally {
    for (const c of children) c.kill();
  }
}

const role = process.argv[2];
if (role === 'receiver') await receiver();
else if (role === 'sender') await sender(Number(process.argv[3]), process.argv[4]);
else if (role === 'flooder') await flooder(Number(process.argv[3]), process.argv[4], Number(process.argv[5]));
