// The two ChaCha20-Poly1305 backends (aead.ts) against RFC 8439's vector and against each other:
// the same bytes for the same key, nonce and plaintext, each opens what the other sealed, both
// refuse anything altered; and two devices on different backends talk.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { aeadBackend, sodiumUnavailable, TAG_LEN, type Aead } from '../../core/wireguard/aead.js';
import { linkedPair, nextUdp, type Pair } from './support.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** Seals a copy of `plaintext` with `aead` (the in-place API on a fresh buffer). */
function seal(aead: Aead, key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Buffer {
  const buf = Buffer.alloc(plaintext.length + TAG_LEN);
  buf.set(plaintext);
  aead.sealInPlace(key, nonce, buf, aad);
  return buf;
}

describe('wireguard AEAD backends', () => {
  let sodium: Aead;
  const node = aeadBackend('node');
  before(function () {
    const why = sodiumUnavailable();
    if (why) {
      if (process.env.CI === 'true') throw new Error(`sodium-native must load under CI: ${why}`);
      console.log(`      SKIPPED (sodium-native does not load: ${why}): only the node:crypto backend is tested`);
      this.skip();
    }
    sodium = aeadBackend('sodium');
  });

  it('both give RFC 8439 §2.8.2\'s ciphertext and tag', () => {
    const key = hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
    const nonce = hex('070000004041424344454647');
    const aad = hex('50515253c0c1c2c3c4c5c6c7');
    const plaintext = Buffer.from("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.");
    for (const aead of [sodium, node]) {
      const box = seal(aead, key, nonce, plaintext, aad);
      expect(box.subarray(0, 16).toString('hex'), aead.name).to.equal('d31a8d34648e60db7b86afbc53ef7ec2');
      expect(box.subarray(-TAG_LEN).toString('hex'), aead.name).to.equal('1ae10b594f09e26a7e902ecbd0600691');
    }
  });

  it('seal the same bytes, and each opens what the other sealed (0 to 1,500 bytes, with and without aad)', () => {
    for (const size of [0, 1, 15, 16, 64, 1400, 1500]) {
      for (const aad of [undefined, randomBytes(32)]) {
        const key = randomBytes(32);
        const nonce = randomBytes(12);
        const plaintext = randomBytes(size);
        const bySodium = seal(sodium, key, nonce, plaintext, aad);
        const byNode = seal(node, key, nonce, plaintext, aad);
        expect(bySodium.equals(byNode), `size ${size}`).to.equal(true);
        expect(node.openInPlace(key, nonce, Buffer.from(bySodium), aad)?.equals(plaintext)).to.equal(true);
        expect(sodium.openInPlace(key, nonce, Buffer.from(byNode), aad)?.equals(plaintext)).to.equal(true);
      }
    }
  });

  it('both refuse an altered ciphertext, tag, aad, nonce or key, or a box shorter than a tag', () => {
    const key = randomBytes(32);
    const nonce = randomBytes(12);
    const aad = randomBytes(32);
    const box = seal(node, key, nonce, randomBytes(64), aad);
    const flip = (b: Buffer, i: number) => { const c = Buffer.from(b); c[i] ^= 1; return c; };
    const cases: [string, Buffer, Uint8Array, Uint8Array, Uint8Array][] = [
      ['ciphertext', flip(box, 3), key, nonce, aad],
      ['tag', flip(box, box.length - 1), key, nonce, aad],
      ['aad', Buffer.from(box), key, nonce, flip(aad, 0)],
      ['nonce', Buffer.from(box), key, flip(nonce, 11), aad],
      ['key', Buffer.from(box), flip(key, 0), nonce, aad],
      ['short', box.subarray(0, TAG_LEN - 1), key, nonce, aad],
    ];
    for (const aead of [sodium, node]) {
      for (const [what, altered, k, n, a] of cases) {
        expect(aead.openInPlace(k, n, Buffer.from(altered), a), `${aead.name}: ${what}`).to.equal(null);
      }
    }
  });

  it('is chosen by name, and refuses an unknown one precisely', () => {
    expect(aeadBackend('node').name).to.equal('node');
    expect(aeadBackend('sodium').name).to.equal('sodium');
    expect(() => aeadBackend('aes')).to.throw(/unknown AEAD backend 'aes'.*sodium or node/);
  });

  describe('devices on different backends', () => {
    let pair: Pair | undefined;
    afterEach(async () => { await pair?.close(); pair = undefined; });

    it('complete a handshake and carry UDP both ways, padded and not', async () => {
      pair = await linkedPair({ a: { aead: 'sodium' }, b: { aead: 'node' } });
      const { a, b } = pair;
      for (const payload of [Buffer.from('x'), randomBytes(1400)]) {
        const atB = nextUdp(b, 7000);
        a.sendUdp(6000, '10.0.0.2', 7000, payload);
        expect((await atB).payload.equals(payload)).to.equal(true);
        const atA = nextUdp(a, 6000);
        b.sendUdp(7000, '10.0.0.1', 6000, payload);
        expect((await atA).payload.equals(payload)).to.equal(true);
      }
      expect(a.stats().drops).to.deep.equal({});
      expect(b.stats().drops).to.deep.equal({});
    });
  });
});
