import { expect } from 'chai';
import { x25519 } from '@noble/curves/ed25519.js';
import { pairSecret } from '../../core/protocol/key-derivation.js';
import { InvalidKeyError, formatKey, generateSecret, parseKey, publicKeyOf } from '../../core/keys/index.js';
import { keyPair } from './fixtures/setup.js';

describe('protocol keys', () => {
  it('generates clamped 32-byte secrets, as wg genkey does', () => {
    for (let i = 0; i < 50; i++) {
      const s = generateSecret();
      expect(s.length).to.equal(32);
      expect(s[0] & 7).to.equal(0);
      expect(s[31] & 0xc0).to.equal(0x40);
    }
  });

  it('derives the same public key as @noble', () => {
    for (let i = 0; i < 20; i++) {
      const s = generateSecret();
      expect(publicKeyOf(s).toString('hex')).to.equal(Buffer.from(x25519.getPublicKey(s)).toString('hex'));
    }
  });

  it('formats and parses WireGuard base64, ignoring surrounding whitespace', () => {
    const s = generateSecret();
    const text = formatKey(s);
    expect(text).to.have.length(44);
    expect(parseKey(`${text}\n`).equals(s)).to.equal(true);
    expect(parseKey(`  ${text}\r\n`).equals(s)).to.equal(true);
  });

  it('refuses malformed key text with a precise message that never echoes the key', () => {
    const text = formatKey(generateSecret());
    const cases: Array<[string, RegExp]> = [
      ['', /empty/],
      ['\n', /empty/],
      [text.slice(0, 43), /44 characters.*got 43/],
      [`${text}A`, /44 characters.*got 45/],
      [`${text.slice(0, 20)}*${text.slice(21)}`, /not canonical base64/],
      [`${text.slice(0, 42)}B=`, /not canonical base64/], // low bits of the last digit set
      [`${text.slice(0, 42)}==`, /not canonical base64/],
      [`${text} ${text}`, /unexpected characters after the key/],
    ];
    for (const [input, message] of cases) {
      expect(() => parseKey(input, 'node key'), JSON.stringify(input)).to.throw(InvalidKeyError, message);
      try {
        parseKey(input, 'node key');
      } catch (err) {
        expect((err as Error).message).to.match(/^node key/);
        if (input.length > 8) expect((err as Error).message).not.to.contain(input.trim().slice(0, 8));
      }
    }
  });

  it('computes the same pair secret on both sides', () => {
    const a = keyPair();
    const b = keyPair();
    expect(pairSecret(a.secret, b.publicKey).equals(pairSecret(b.secret, a.publicKey))).to.equal(true);
  });

  it('refuses low-order public keys (all-zero shared secret)', () => {
    const lowOrder = [
      Buffer.alloc(32), // 0
      Buffer.from('0100000000000000000000000000000000000000000000000000000000000000', 'hex'), // 1
      Buffer.from('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', 'hex'), // order 8
      Buffer.from('5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157', 'hex'), // order 8
      Buffer.from('ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', 'hex'), // p − 1
    ];
    const s = generateSecret();
    for (const pub of lowOrder) expect(() => pairSecret(s, pub), pub.toString('hex')).to.throw(InvalidKeyError, /low-order/);
  });
});
