// Protocol timers, driven by a manual clock over an in-memory link: nothing here waits for real
// time; each step moves the clock and lets the datagrams it caused be delivered.
import { expect } from 'chai';
import {
  CROSSED_RESTART_AFTER, KEEPALIVE_TIMEOUT, REJECT_AFTER_TIME, REKEY_AFTER_TIME, REKEY_ATTEMPT_TIME, REKEY_TIMEOUT, REKEY_TIMEOUT_JITTER_MAX,
} from '../../core/wireguard/constants.js';
import type { Device } from '../../core/wireguard/device.js';
import { MESSAGE_INITIATION, MESSAGE_TRANSPORT } from '../../core/wireguard/messages.js';
import { linkedPair, nextHandshake, step, type Pair, type Sent } from './support.js';

const RETRY = REKEY_TIMEOUT + REKEY_TIMEOUT_JITTER_MAX;

/** a sends one datagram to b (which echoes if `echo`), and both ends see the session complete. */
async function establish(p: Pair, echo = false): Promise<void> {
  if (echo) p.b.bindUdp(7, (payload, from) => p.b.sendUdp(7, from.address, from.port, payload));
  const both = Promise.all([nextHandshake(p.a), nextHandshake(p.b)]);
  p.a.sendUdp(1000, '10.0.0.2', 7, Buffer.from('hello'));
  await both;
  await p.link.settle();
}

const count = (p: Pair, pred: (s: Sent) => boolean) => p.link.sent.filter(pred).length;
const initiations = (from: 'a' | 'b') => (s: Sent) => s.from === from && s.type === MESSAGE_INITIATION;
const keepalives = (from: 'a' | 'b') => (s: Sent) => s.from === from && s.keepalive;
const receiverIndex = (s: Sent) => s.data.readUInt32LE(4);

function transportFrom(p: Pair, from: 'a' | 'b'): Sent[] {
  return p.link.sent.filter((s) => s.from === from && s.type === MESSAGE_TRANSPORT && !s.keepalive);
}

function capture(p: Pair, d: Device, dst: string, payload: string): Buffer {
  const before = p.link.sent.length;
  d.sendUdp(7, dst, 1000, Buffer.from(payload));
  const s = p.link.sent.slice(before).find((x) => x.type === MESSAGE_TRANSPORT);
  if (!s) throw new Error('no transport message captured');
  return s.data;
}

describe('wireguard timers (manual clock)', () => {
  let p: Pair;
  afterEach(async () => { await p?.close(); });

  it('sends a keepalive after KEEPALIVE_TIMEOUT of receiving data without sending any', async () => {
    p = await linkedPair();
    p.b.bindUdp(7, () => {});
    await establish(p);
    expect(count(p, keepalives('b'))).to.equal(0);
    await step(p, KEEPALIVE_TIMEOUT - 1);
    expect(count(p, keepalives('b'))).to.equal(0);
    await step(p, 1);
    expect(count(p, keepalives('b'))).to.equal(1);
    expect(p.a.peerStats(p.b.publicKey)!.keepalivesReceived).to.equal(1);
    // That keepalive told a the session is alive: a does not start a new handshake.
    await step(p, KEEPALIVE_TIMEOUT + RETRY);
    expect(count(p, initiations('a'))).to.equal(1);
  });

  it('sends no keepalive when it answered with data itself', async () => {
    p = await linkedPair();
    await establish(p, true);
    await step(p, 3 * KEEPALIVE_TIMEOUT);
    expect(count(p, keepalives('b'))).to.equal(0);
  });

  it('starts a new handshake when data sent gets no answer for KEEPALIVE_TIMEOUT + REKEY_TIMEOUT', async () => {
    p = await linkedPair();
    await establish(p, true);
    p.link.up = false;
    p.a.sendUdp(1000, '10.0.0.2', 7, Buffer.from('anyone?'));
    await step(p, KEEPALIVE_TIMEOUT + REKEY_TIMEOUT - 1);
    expect(count(p, initiations('a'))).to.equal(1);
    await step(p, REKEY_TIMEOUT_JITTER_MAX + 1);
    expect(count(p, initiations('a'))).to.equal(2);
  });

  it('sends persistent keepalives at the configured interval, starting the session at once', async () => {
    p = await linkedPair({ aPeer: { persistentKeepalive: 25 } });
    // Nothing was sent by hand: the first keepalive alone brings the session up.
    await Promise.all([nextHandshake(p.a), nextHandshake(p.b)]);
    await p.link.settle();
    const first = count(p, keepalives('a'));
    expect(first).to.equal(1); // the one that brought the session up
    await step(p, 25_000 - 1);
    expect(count(p, keepalives('a'))).to.equal(first);
    await step(p, 1);
    expect(count(p, keepalives('a'))).to.equal(first + 1);
    await step(p, 25_000);
    expect(count(p, keepalives('a'))).to.equal(first + 2);
  });

  it('rekeys after REKEY_AFTER_TIME when the initiator sends, and moves traffic to the new session', async () => {
    p = await linkedPair();
    await establish(p, true);
    const oldIndex = receiverIndex(transportFrom(p, 'a')[0]);
    await step(p, REKEY_AFTER_TIME - 1);
    p.a.sendUdp(1000, '10.0.0.2', 7, Buffer.from('before'));
    await p.link.settle();
    expect(count(p, initiations('a'))).to.equal(1);

    await step(p, 2);
    const again = nextHandshake(p.a);
    p.a.sendUdp(1000, '10.0.0.2', 7, Buffer.from('after'));
    await again;
    await p.link.settle();
    expect(count(p, initiations('a'))).to.equal(2);
    p.a.sendUdp(1000, '10.0.0.2', 7, Buffer.from('new keys'));
    await p.link.settle();
    const last = transportFrom(p, 'a').at(-1)!;
    expect(receiverIndex(last)).to.not.equal(oldIndex);
    expect(p.b.peerStats(p.a.publicKey)!.handshakes).to.equal(2);
  });

  it('does not rekey on time from the responder side', async () => {
    p = await linkedPair();
    await establish(p, true);
    await step(p, REKEY_AFTER_TIME + 1);
    p.b.sendUdp(7, '10.0.0.1', 1000, Buffer.from('from b'));
    await p.link.settle();
    expect(count(p, initiations('b'))).to.equal(0);
  });

  it('rekeys when receiving from an old session (REJECT_AFTER_TIME − KEEPALIVE_TIMEOUT − REKEY_TIMEOUT)', async () => {
    p = await linkedPair();
    await establish(p, true);
    // Keep b's packets flowing but let a stay silent, so only the receive path can trigger it.
    await step(p, REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT - 1);
    p.b.sendUdp(7, '10.0.0.1', 1000, Buffer.from('still here'));
    await p.link.settle();
    expect(count(p, initiations('a'))).to.equal(1);
    await step(p, 2);
    const again = nextHandshake(p.a);
    p.b.sendUdp(7, '10.0.0.1', 1000, Buffer.from('still here'));
    await again;
  });

  it('rekeys after REKEY_AFTER_MESSAGES (shortened for the test)', async () => {
    p = await linkedPair({ a: { timings: { rekeyAfterMessages: 5 } } });
    await establish(p, true);
    await step(p, REKEY_TIMEOUT); // initiations are at most one per REKEY_TIMEOUT
    const again = nextHandshake(p.a);
    for (let i = 0; i < 6; i++) p.a.sendUdp(1000, '10.0.0.2', 7, Buffer.from(`m${i}`));
    await again;
    expect(count(p, initiations('a'))).to.equal(2);
  });

  it('neither sends nor accepts under a session older than REJECT_AFTER_TIME', async () => {
    p = await linkedPair();
    await establish(p);
    p.link.up = false;
    const early = capture(p, p.b, '10.0.0.1', 'early');
    const late = capture(p, p.b, '10.0.0.1', 'late');
    const got: string[] = [];
    p.a.bindUdp(1000, (payload) => got.push(Buffer.from(payload).toString()));

    await step(p, REJECT_AFTER_TIME - 1);
    p.a.receiveDatagram(early, { relay: 'wire' });
    expect(got).to.deep.equal(['early']);

    await step(p, 1);
    p.a.receiveDatagram(late, { relay: 'wire' });
    expect(got).to.deep.equal(['early']);
    expect(p.a.stats().drops['transport: session expired']).to.equal(1);

    // Receiving under the old session already asked for a new one (keepKeyFreshReceiving); a
    // packet sent now waits for it instead of going out under the expired keys.
    expect(p.link.sent.filter(initiations('a')).at(-1)!.at).to.equal(REJECT_AFTER_TIME - 1);
    const before = p.link.sent.length;
    p.a.sendUdp(1000, '10.0.0.2', 7, Buffer.from('too late'));
    expect(p.link.sent.slice(before)).to.deep.equal([]);
    p.link.up = true;
    const again = nextHandshake(p.a);
    await step(p, REKEY_TIMEOUT + REKEY_TIMEOUT_JITTER_MAX);
    await again;
    await p.link.settle();
    expect(transportFrom(p, 'a').at(-1)!.at).to.be.at.least(REJECT_AFTER_TIME);
  });

  it('retries an unanswered handshake every REKEY_TIMEOUT (+ jitter) and gives up after REKEY_ATTEMPT_TIME', async () => {
    p = await linkedPair();
    p.link.up = false;
    const states: string[] = [];
    p.a.on('peer', (e) => states.push(`${e.state}: ${e.reason}`));
    p.a.sendUdp(1000, '10.0.0.2', 7, Buffer.from('lost'));
    await step(p, 200_000);
    const times = p.link.sent.filter(initiations('a')).map((s) => s.at);
    // wireguard-go's schedule: the first attempt and MaxTimerHandshakes + 1 retries.
    expect(times).to.have.length(REKEY_ATTEMPT_TIME / REKEY_TIMEOUT + 2);
    for (let i = 1; i < times.length; i++) {
      expect(times[i] - times[i - 1], `gap before attempt ${i + 1}`).to.be.within(REKEY_TIMEOUT, RETRY);
    }
    expect(times.at(-1)! - times[0]).to.be.above(REKEY_ATTEMPT_TIME);
    expect(states).to.deep.equal(['handshaking: initiating handshake', 'down: handshake gave up']);
    expect(p.a.stats().drops['handshake gave up']).to.equal(1);
    // New traffic starts a fresh round of attempts.
    p.a.sendUdp(1000, '10.0.0.2', 7, Buffer.from('again'));
    expect(count(p, initiations('a'))).to.equal(times.length + 1);
  });

  it('completes on a retry once the path works again', async () => {
    p = await linkedPair();
    p.link.up = false;
    p.a.sendUdp(1000, '10.0.0.2', 7, Buffer.from('x'));
    p.link.up = true;
    const done = nextHandshake(p.a);
    await step(p, RETRY);
    expect((await done).initiator).to.equal(true);
  });

  it('recovers from crossed initiations: a retry held back by the rate limit is postponed, not lost', async () => {
    p = await linkedPair({ bPeer: { endpoint: { relay: 'wire' } } });
    const got: string[] = [];
    p.a.bindUdp(1000, (x) => got.push(Buffer.from(x).toString()));
    p.b.bindUdp(7, (x) => got.push(Buffer.from(x).toString()));
    // Both initiate at once, and both initiations arrive late (held up on the way, as behind a
    // relay whose own session is not up yet): each side answers the other's and forgets its own,
    // so neither answer completes anything.
    p.link.up = false;
    p.a.sendUdp(1000, '10.0.0.2', 7, Buffer.from('from a'));
    p.b.sendUdp(7, '10.0.0.1', 1000, Buffer.from('from b'));
    const [fromA, fromB] = ['a', 'b'].map((who) => p.link.sent.find((s) => s.from === who && s.type === MESSAGE_INITIATION)!);
    await step(p, REKEY_TIMEOUT - 1000);
    p.link.up = true;
    p.a.receiveDatagram(fromB.data, { relay: 'wire' });
    p.b.receiveDatagram(fromA.data, { relay: 'wire' });
    await p.link.settle();
    expect([p.a, p.b].map((d) => d.stats().drops['response: unknown index'])).to.deep.equal([1, 1]);
    // Their retries fall due less than REKEY_TIMEOUT after those answers: held back, then sent.
    await step(p, 2 * RETRY);
    expect(got.sort()).to.deep.equal(['from a', 'from b']);
    expect(p.a.peerStats(p.b.publicKey)!.state).to.equal('up');
    expect(p.b.peerStats(p.a.publicKey)!.state).to.equal('up');
  });

  it('settles initiations that cross in flight at once: the lower key starts once more, the other only answers', async () => {
    p = await linkedPair({ bPeer: { endpoint: { relay: 'wire' } } });
    const got: string[] = [];
    p.a.bindUdp(1000, (x) => got.push(Buffer.from(x).toString()));
    p.b.bindUdp(7, (x) => got.push(Buffer.from(x).toString()));
    // Both start at the same moment (persistent keepalives on both ends, or data both ways).
    p.a.sendUdp(1000, '10.0.0.2', 7, Buffer.from('from a'));
    p.b.sendUdp(7, '10.0.0.1', 1000, Buffer.from('from b'));
    await p.link.settle();
    expect([p.a, p.b].map((d) => d.stats().drops['response: unknown index'])).to.deep.equal([1, 1]);
    const lower = Buffer.compare(Buffer.from(p.a.publicKey, 'base64'), Buffer.from(p.b.publicKey, 'base64')) < 0 ? p.a : p.b;
    const [lowerName, higherName] = lower === p.a ? ['a', 'b'] as const : ['b', 'a'] as const;
    // More data before the restart is due starts nothing: the peer would drop it as a flood.
    await step(p, CROSSED_RESTART_AFTER / 2);
    lower.sendUdp(lower === p.a ? 1000 : 7, lower === p.a ? '10.0.0.2' : '10.0.0.1', lower === p.a ? 7 : 1000, Buffer.from('again'));
    expect(count(p, initiations(lowerName))).to.equal(1);
    await step(p, CROSSED_RESTART_AFTER / 2);
    expect(got.sort()).to.deep.equal(['again', 'from a', 'from b']);
    expect(count(p, initiations(lowerName))).to.equal(2);
    expect(count(p, initiations(higherName))).to.equal(1);
  });

  it('zeroes all key material 3 × REJECT_AFTER_TIME after the last session was made', async () => {
    p = await linkedPair();
    await establish(p);
    p.link.up = false;
    const first = capture(p, p.b, '10.0.0.1', 'one');
    const second = capture(p, p.b, '10.0.0.1', 'two');
    await step(p, 3 * REJECT_AFTER_TIME - 1);
    p.a.receiveDatagram(first, { relay: 'wire' });
    expect(p.a.stats().drops['transport: session expired']).to.equal(1);
    await step(p, 1);
    p.a.receiveDatagram(second, { relay: 'wire' });
    // The session and its index are gone, not merely expired.
    expect(p.a.stats().drops['transport: unknown index']).to.equal(1);
    expect(p.a.peerStats(p.b.publicKey)!.state).to.equal('down');
  });
});
