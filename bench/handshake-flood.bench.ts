// Handshake floods (issue 12, item 6): data packets/s one peer gets through to a device while a
// second source floods that device with handshake initiations (valid mac1: public keys are
// public) as fast as this machine can send, beside the same data with no flood, in one run.
// Three processes on loopback: the receiving device, the data sender (a real peer with a
// session, writing 64-byte UDP datagrams as fast as it can) and the flooder (a plain UDP
// socket; one variant answers the cookie replies, so its mac2 is valid). Data goes as fast as
// the sender can, then at a command-like 2,000/s. The receiver counts datagrams delivered on its
// mesh address for DURATION ms; "delivered share" is delivered / sent in the same window.
import { fork, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { dh, generateSecret, keyPairFromPrivate, publicKeyOf } from '../core/keys/index.js';
import { COOKIE_REFRESH_TIME } from '../core/wireguard/constants.js';
import { addMacs, consumeCookieReply, createCookieGenerator } from '../core/wireguard/cookie.js';
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

const TICK = 5;

/** Calls `send` rate() times a second, or as fast as it can while rate() is 0, until running() is false. */
async function pace(send: () => void, rate: () => number, running: () => boolean): Promise<void> {
  while (running()) {
    const r = rate();
    if (r === 0) {
      for (let k = 0; k < BATCH; k++) send();
      await new Promise((res) => setImmediate(res));
    } else {
      for (let k = 0; k < (r * TICK) / 1000; k++) send();
      await new Promise((res) => setTimeout(res, TICK));
    }
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
  let rate = 0;
  let sent = 0;
  process.on('message', (m: Msg) => {
    if (m.stop) running = false;
    if (typeof m.rate === 'number') rate = m.rate;
    if (m.count) process.send!({ sent });
  });
  process.send!({ sending: true });
  await pace(() => { device.sendUdp(PORT, '10.77.0.2', PORT, payload); sent++; }, () => rate, () => running);
  await device.close();
  process.exit(0);
}

/**
 * Floods with initiations from one address at `rate`/s (as fast as it can when 0). With
 * `answersCookies` it takes every cookie reply, as a real initiator would, so its mac2 is valid.
 */
async function flooder(bPort: number, bKey: string, rate: number, answersCookies: boolean): Promise<void> {
  const target = Buffer.from(bKey, 'base64');
  const stranger = keyPairFromPrivate(generateSecret());
  const { message } = createInitiation(stranger, target, dh(stranger.privateKey, target)!, 1, tai64n(Date.now()));
  const cookie = createCookieGenerator(target);
  addMacs(cookie, message, performance.now(), COOKIE_REFRESH_TIME);
  const socket = createSocket('udp4');
  if (answersCookies) {
    socket.on('message', (reply) => {
      if (consumeCookieReply(cookie, reply, performance.now())) addMacs(cookie, message, performance.now(), COOKIE_REFRESH_TIME);
    });
  }
  let running = true;
  let sent = 0;
  process.on('message', (m: Msg) => { if (m.stop) running = false; });
  process.send!({ flooding: true });
  const start = performance.now();
  await pace(() => { socket.send(message, bPort, '127.0.0.1'); sent++; }, () => rate, () => running);
  process.send!({ flooded: (sent * 1000) / (performance.now() - start) });
  socket.close();
  process.exit(0);
}

// ---- the run -----------------------------------------------------------------------------------

/** Data packets/s the sender wrote and the receiver got, over one window of DURATION ms. */
async function window(rx: ChildProcess, tx: ChildProcess): Promise<{ sent: number; delivered: number; drops: DropCounts }> {
  tx.send({ count: true });
  const before = (await next(tx, 'sent')).sent as number;
  rx.send({ measure: DURATION });
  const got = await next(rx, 'measured');
  tx.send({ count: true });
  const after = (await next(tx, 'sent')).sent as number;
  const perSecond = (n: number) => (n * 1000) / DURATION;
  return { sent: perSecond(after - before), delivered: perSecond(got.measured as number), drops: got.drops as DropCounts };
}

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
    const rows: Record<string, string | number>[] = [];
    const dropLines: string[] = [];
    const floods = [
      { label: '20k/s, mac1 only', rate: 20_000, cookies: false },
      { label: 'as fast as it can, mac1 only', rate: 0, cookies: false },
      { label: '20k/s, answering cookies', rate: 20_000, cookies: true },
    ];
    // Data as fast as the sender can, then at a command-like 2,000/s.
    for (const data of [0, 2000]) {
      tx.send({ rate: data });
      const dataLabel = data ? `${data}/s` : 'max';
      await new Promise((res) => setTimeout(res, WARMUP));
      const quiet = await window(rx, tx);
      const row = (flood: string, floodRate: number, w: { sent: number; delivered: number }) => ({
        data: dataLabel, flood, 'initiations/s sent': Math.round(floodRate), 'data sent/s': Math.round(w.sent),
        'data delivered/s': Math.round(w.delivered), 'delivered share': (w.delivered / w.sent).toFixed(2),
        'vs no flood': (w.delivered / quiet.delivered).toFixed(2),
      });
      rows.push(row('none', 0, quiet));
      for (const f of floods) {
        const fl = spawnChild('flooder', String(r.port), r.publicKey as string, String(f.rate), String(f.cookies));
        children.push(fl);
        await next(fl, 'flooding');
        await new Promise((res) => setTimeout(res, WARMUP));
        const flooded = await window(rx, tx);
        const floodRate = next(fl, 'flooded');
        fl.send({ stop: true });
        rows.push(row(f.label, (await floodRate).flooded as number, flooded));
        const d = flooded.drops;
        dropLines.push(`data ${dataLabel}, ${f.label}: ${JSON.stringify({
          'cookie required': d['handshake: cookie required'] ?? 0, 'DH done (unknown peer)': d['initiation: unknown peer'] ?? 0,
          'rate limited': d['handshake: rate limited'] ?? 0, 'queue full': d['handshake: queue full'] ?? 0,
        })}`);
      }
    }
    tx.send({ stop: true });
    printTable(rows);
    console.log(`\nreceiver's handshake drops in each measured ${DURATION} ms:\n${dropLines.join('\n')}`);
  } finally {
    for (const c of children) c.kill();
  }
}

const role = process.argv[2];
if (role === 'receiver') await receiver();
else if (role === 'sender') await sender(Number(process.argv[3]), process.argv[4]);
else if (role === 'flooder') await flooder(Number(process.argv[3]), process.argv[4], Number(process.argv[5]), process.argv[6] === 'true');
