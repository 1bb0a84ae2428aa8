// Handshake floods (issue 12, item 6), on loopback with real UDP sockets. Public keys are public,
// so anyone can send initiations with a valid mac1; under load the device answers with cookies,
// but a source that answers them (valid mac2) must still not buy a DH per packet, and handshake
// work must not hold up another peer's data.
import { expect } from 'chai';
import { createSocket, type Socket } from 'node:dgram';
import { dh, generateSecret, keyPairFromPrivate, publicKeyOf } from '../../core/keys/index.js';
import { createManualClock } from '../../core/wireguard/clock.js';
import { COOKIE_REFRESH_TIME } from '../../core/wireguard/constants.js';
import { addMacs, consumeCookieReply, createCookieGenerator } from '../../core/wireguard/cookie.js';
import { createDevice, type Device, type DropEvent, type DropReason } from '../../core/wireguard/device.js';
import { MESSAGE_COOKIE_REPLY } from '../../core/wireguard/messages.js';
import { createInitiation } from '../../core/wireguard/noise.js';
import { tai64n } from '../../core/wireguard/tai64n.js';
import { nextEvent, nextHandshake, nextUdp } from './support.js';

/** An initiation to `target` from an identity it does not know: valid mac1, nothing else. */
function strangerInitiation(target: Uint8Array, cookie = createCookieGenerator(target), now = 0): Buffer {
  const stranger = keyPairFromPrivate(generateSecret());
  const { message } = createInitiation(stranger, target, dh(stranger.privateKey, target)!, 1, tai64n(Date.now()));
  addMacs(cookie, message, now, COOKIE_REFRESH_TIME);
  return message;
}

/** The attacker's socket, on a loopback address of its own: limits are per source address. */
async function udpSocket(): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.2', resolve));
  return s;
}

/** Resolves once `d` has dropped `count` datagrams for one of `reasons`, with the counts by reason. */
function dropsOf(d: Device, reasons: DropReason[], count: number, ms = 10_000): Promise<Partial<Record<DropReason, number>>> {
  const seen: Partial<Record<DropReason, number>> = {};
  let total = 0;
  return nextEvent<DropEvent>((l) => d.on('drop', l), (l) => d.off('drop', l), ms, (e) => {
    if (!reasons.includes(e.reason)) return false;
    seen[e.reason] = (seen[e.reason] ?? 0) + 1;
    return ++total === count;
  }).then(() => seen);
}

describe('wireguard handshake floods', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => { for (const c of closers.splice(0).reverse()) await c(); });

  it('a source that answers cookies gets 5 handshakes (the burst), not a DH per packet', async () => {
    // A clock that does not move: the limiter's bucket cannot refill, so the count is exact.
    const clock = createManualClock();
    const b = await createDevice({ privateKey: generateSecret(), address: '10.0.0.2', bindAddress: '127.0.0.1', clock, cookieThreshold: 0 });
    closers.push(() => b.close());
    const target = Buffer.from(b.publicKey, 'base64');
    const attacker = await udpSocket();
    closers.push(() => new Promise((resolve) => attacker.close(() => resolve())));

    // It asks, gets a cookie reply, and takes the cookie as a real initiator would.
    const cookie = createCookieGenerator(target);
    const reply = new Promise<Buffer>((resolve) => attacker.once('message', resolve));
    attacker.send(strangerInitiation(target, cookie), b.port, '127.0.0.1');
    const got = await reply;
    expect(got[0]).to.equal(MESSAGE_COOKIE_REPLY);
    expect(consumeCookieReply(cookie, got, 0)).to.equal(true);

    // Then 50 initiations with a valid mac2 from the same address, one after the other (so that
    // the queue's share per source, a separate limit, does not come into it).
    const reasons: DropReason[] = ['initiation: unknown peer', 'handshake: rate limited', 'handshake: cookie required', 'handshake: queue full'];
    const outcome: Partial<Record<DropReason, number>> = {};
    for (let i = 0; i < 50; i++) {
      const one = dropsOf(b, reasons, 1);
      attacker.send(strangerInitiation(target, cookie), b.port, '127.0.0.1');
      for (const [reason, n] of Object.entries(await one) as [DropReason, number][]) outcome[reason] = (outcome[reason] ?? 0) + n;
    }
    expect(outcome).to.deep.equal({ 'initiation: unknown peer': 5, 'handshake: rate limited': 45 });
  });

  it('another peer\'s data is not held up behind a burst of handshake work from one source', async () => {
    const a = await createDevice({ privateKey: generateSecret(), address: '10.0.0.1', bindAddress: '127.0.0.1' });
    const bSecret = generateSecret();
    const b = await createDevice({ privateKey: bSecret, address: '10.0.0.2', bindAddress: '127.0.0.1' });
    closers.push(() => a.close(), () => b.close());
    a.addPeer({ publicKey: b.publicKey, allowedIPs: ['10.0.0.2/32'], endpoint: `127.0.0.1:${b.port}` });
    b.addPeer({ publicKey: a.publicKey, allowedIPs: ['10.0.0.1/32'] });
    const up = nextHandshake(a);
    const first = nextUdp(b, 7);
    a.sendUdp(40000, '10.0.0.2', 7, Buffer.from('session up'));
    await Promise.all([up, first]);

    const flood = 2000;
    const attacker = await udpSocket();
    closers.push(() => new Promise((resolve) => attacker.close(() => resolve())));
    const initiation = strangerInitiation(publicKeyOf(bSecret));
    // Every handshake message b deals with ends in one drop: count them as they happen.
    const handshakeWork: DropReason[] = [
      'handshake: cookie required', 'initiation: unknown peer', 'handshake: rate limited', 'handshake: queue full',
    ];
    let worked = 0;
    b.on('drop', (e) => { if (handshakeWork.includes(e.reason)) worked++; });
    const allDone = dropsOf(b, handshakeWork, flood);

    const data = new Promise<number>((resolve) => {
      const s = b.bindUdp(8, () => { s.close(); resolve(worked); });
    });
    for (let i = 0; i < flood; i++) attacker.send(initiation, b.port, '127.0.0.1');
    // After the whole burst is on its way, one datagram from the real peer.
    await new Promise<void>((resolve) => attacker.send(Buffer.alloc(0), 9, '127.0.0.1', () => resolve()));
    a.sendUdp(40000, '10.0.0.2', 8, Buffer.from('command'));

    const workedBeforeData = await data;
    expect(workedBeforeData, 'handshake messages dealt with before the data').to.be.lessThan(flood);
    await allDone;
  });

  it('a new peer\'s handshake gets through a burst of initiations from one source, at the first try', async () => {
    const bSecret = generateSecret();
    // Never "under load" here, so that no cookie round trip is needed: this is about the queue.
    const b = await createDevice({ privateKey: bSecret, address: '10.0.0.2', bindAddress: '127.0.0.1', cookieThreshold: 1e9 });
    const c = await createDevice({ privateKey: generateSecret(), address: '10.0.0.3', bindAddress: '127.0.0.1' });
    closers.push(() => b.close(), () => c.close());
    b.addPeer({ publicKey: c.publicKey, allowedIPs: ['10.0.0.3/32'] });
    c.addPeer({ publicKey: b.publicKey, allowedIPs: ['10.0.0.2/32'], endpoint: `127.0.0.1:${b.port}` });
    const attacker = await udpSocket();
    closers.push(() => new Promise((resolve) => attacker.close(() => resolve())));
    const initiation = strangerInitiation(publicKeyOf(bSecret));
    const flood = 3000;
    const allDone = dropsOf(b, ['initiation: unknown peer', 'handshake: queue full'], flood);
    for (let i = 0; i < flood; i++) attacker.send(initiation, b.port, '127.0.0.1');
    await new Promise<void>((resolve) => attacker.send(Buffer.alloc(0), 9, '127.0.0.1', () => resolve()));
    const up = nextHandshake(c);
    c.sendUdp(40000, '10.0.0.2', 7, Buffer.from('hello'));
    await up;
    // Answered at the first try: the flood's messages did not take every place in the queue.
    expect(c.peerStats(b.publicKey)!.initiationsSent).to.equal(1);
    await allDone;
  });
});
