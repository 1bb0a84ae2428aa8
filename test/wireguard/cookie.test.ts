import { expect } from 'chai';
import { blake2s } from '@noble/hashes/blake2.js';
import {
  addMacs, checkMac1, checkMac2, consumeCookieReply, createCookieChecker, createCookieGenerator, createCookieReply,
} from '../../core/wireguard/cookie.js';
import { COOKIE_REFRESH_TIME, REKEY_TIMEOUT } from '../../core/wireguard/constants.js';
import { MESSAGE_COOKIE_REPLY, MESSAGE_INITIATION, MESSAGE_RESPONSE } from '../../core/wireguard/messages.js';
import { generateSecret, publicKeyOf } from '../../core/keys/index.js';
import { linkedPair, nextHandshake } from './support.js';

function fakeMessage(type: number, size: number): Buffer {
  const m = Buffer.alloc(size, 0x5a);
  m.writeUInt32LE(type, 0);
  return m;
}

describe('wireguard cookie: mac1, mac2 and cookie replies', () => {
  const responderPublic = publicKeyOf(generateSecret());
  const source = Buffer.from([192, 0, 2, 1, 0xca, 0x6c]);

  it('computes mac1 as keyed BLAKE2s-128 of the message under HASH("mac1----" ‖ responder key)', () => {
    const g = createCookieGenerator(responderPublic);
    const m = fakeMessage(MESSAGE_INITIATION, 148);
    addMacs(g, m, 0, COOKIE_REFRESH_TIME);
    const key = blake2s(Buffer.concat([Buffer.from('mac1----'), responderPublic]));
    expect(Buffer.from(m.subarray(116, 132)).equals(Buffer.from(blake2s(m.subarray(0, 116), { key, dkLen: 16 })))).to.equal(true);
    expect(m.subarray(132).every((b) => b === 0)).to.equal(true);
    expect(checkMac1(createCookieChecker(responderPublic), m)).to.equal(true);
  });

  it('rejects mac1 for another responder or a changed message', () => {
    const g = createCookieGenerator(responderPublic);
    for (const [type, size] of [[MESSAGE_INITIATION, 148], [MESSAGE_RESPONSE, 92]]) {
      const m = fakeMessage(type, size);
      addMacs(g, m, 0, COOKIE_REFRESH_TIME);
      expect(checkMac1(createCookieChecker(publicKeyOf(generateSecret())), m)).to.equal(false);
      m[20] ^= 1;
      expect(checkMac1(createCookieChecker(responderPublic), m)).to.equal(false);
    }
  });

  it('hands out a cookie that the sender uses for mac2 until it is COOKIE_REFRESH_TIME old', () => {
    const checker = createCookieChecker(responderPublic);
    const g = createCookieGenerator(responderPublic);
    const m = fakeMessage(MESSAGE_INITIATION, 148);
    addMacs(g, m, 0, COOKIE_REFRESH_TIME);
    expect(checkMac2(checker, m, source, 0, COOKIE_REFRESH_TIME)).to.equal(false);

    const reply = createCookieReply(checker, m, 0x01020304, source, 0, COOKIE_REFRESH_TIME);
    expect(reply.length).to.equal(64);
    expect(reply.readUInt32LE(0)).to.equal(MESSAGE_COOKIE_REPLY);
    expect(reply.readUInt32LE(4)).to.equal(0x01020304);
    expect(consumeCookieReply(g, reply, 1000)).to.equal(true);
    // A second copy of the same reply is not accepted (it is bound to a mac1 already answered).
    expect(consumeCookieReply(g, reply, 1001)).to.equal(false);

    const retry = fakeMessage(MESSAGE_INITIATION, 148);
    addMacs(g, retry, 1000 + REKEY_TIMEOUT, COOKIE_REFRESH_TIME);
    expect(checkMac1(checker, retry)).to.equal(true);
    expect(checkMac2(checker, retry, source, 1000 + REKEY_TIMEOUT, COOKIE_REFRESH_TIME)).to.equal(true);
    // Only for the address it was given to.
    expect(checkMac2(checker, retry, Buffer.from([192, 0, 2, 9, 0xca, 0x6c]), 1000 + REKEY_TIMEOUT, COOKIE_REFRESH_TIME)).to.equal(false);

    const stale = fakeMessage(MESSAGE_INITIATION, 148);
    addMacs(g, stale, 1000 + COOKIE_REFRESH_TIME, COOKIE_REFRESH_TIME);
    expect(stale.subarray(132).every((b) => b === 0)).to.equal(true);
  });

  it('refuses a cookie reply bound to another message or sealed for another responder', () => {
    const checker = createCookieChecker(responderPublic);
    const g = createCookieGenerator(responderPublic);
    const sent = fakeMessage(MESSAGE_INITIATION, 148);
    addMacs(g, sent, 0, COOKIE_REFRESH_TIME);
    const other = fakeMessage(MESSAGE_INITIATION, 148);
    other[50] = 1;
    addMacs(createCookieGenerator(responderPublic), other, 0, COOKIE_REFRESH_TIME);
    expect(consumeCookieReply(g, createCookieReply(checker, other, 1, source, 0, COOKIE_REFRESH_TIME), 0)).to.equal(false);
    const wrongResponder = createCookieChecker(publicKeyOf(generateSecret()));
    expect(consumeCookieReply(g, createCookieReply(wrongResponder, sent, 1, source, 0, COOKIE_REFRESH_TIME), 0)).to.equal(false);
    expect(consumeCookieReply(g, createCookieReply(checker, sent, 1, source, 0, COOKIE_REFRESH_TIME), 0)).to.equal(true);
  });

  it('rotates the cookie secret every COOKIE_REFRESH_TIME, so old cookies stop working', () => {
    const checker = createCookieChecker(responderPublic);
    const g = createCookieGenerator(responderPublic);
    const m = fakeMessage(MESSAGE_INITIATION, 148);
    addMacs(g, m, 0, COOKIE_REFRESH_TIME);
    consumeCookieReply(g, createCookieReply(checker, m, 1, source, 0, COOKIE_REFRESH_TIME), 0);
    const retry = fakeMessage(MESSAGE_INITIATION, 148);
    addMacs(g, retry, 10, COOKIE_REFRESH_TIME);
    expect(checkMac2(checker, retry, source, 10, COOKIE_REFRESH_TIME)).to.equal(true);
    expect(checkMac2(checker, retry, source, COOKIE_REFRESH_TIME + 1, COOKIE_REFRESH_TIME)).to.equal(false);
  });

  describe('between two devices', () => {
    it('a responder under load answers with a cookie; the initiator retries with mac2 and completes', async () => {
      const pair = await linkedPair({ b: { cookieThreshold: 0 } });
      try {
        const cookie = pair.link.next((s) => s.from === 'b' && s.type === MESSAGE_COOKIE_REPLY);
        pair.a.sendUdp(1000, '10.0.0.2', 7, Buffer.from('x'));
        await cookie;
        await pair.link.settle();
        expect(pair.a.peerStats(pair.b.publicKey)!.cookiesReceived).to.equal(1);
        expect(pair.b.stats().drops['handshake: cookie required']).to.equal(1);
        expect(pair.b.peerStats(pair.a.publicKey)!.state).to.equal('idle');

        const done = nextHandshake(pair.a);
        pair.clock.advance(REKEY_TIMEOUT + 334);
        expect((await done).initiator).to.equal(true);
        expect(pair.b.stats().drops['handshake: cookie required']).to.equal(1);
      } finally {
        await pair.close();
      }
    });

    it('counts handshakes per second against the threshold, and asks for cookies only above it', async () => {
      const pair = await linkedPair({ b: { cookieThreshold: 2 } });
      try {
        pair.link.up = false;
        pair.a.sendUdp(1000, '10.0.0.2', 7, Buffer.from('x'));
        const initiation = pair.link.sent.find((s) => s.type === MESSAGE_INITIATION)!.data;
        const cookie = pair.link.next((s) => s.from === 'b' && s.type === MESSAGE_COOKIE_REPLY);
        pair.link.up = true;
        for (let i = 0; i < 3; i++) pair.b.receiveDatagram(initiation, { relay: 'wire' });
        await cookie;
        const drops = pair.b.stats().drops;
        // First: answered. Second: a replay (same timestamp), refused by the handshake. Third: over the threshold.
        expect(drops['initiation: replayed timestamp']).to.equal(1);
        expect(drops['handshake: cookie required']).to.equal(1);
        expect(pair.link.sent.filter((s) => s.from === 'b' && s.type === MESSAGE_RESPONSE)).to.have.length(1);
      } finally {
        await pair.close();
      }
    });
  });
});
