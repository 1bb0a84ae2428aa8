// The two HMAC-SHA256 backends of the command tag (core/protocol/tag.ts) give node:crypto's bytes:
// random keys (of the block size and around it) and inputs, and the same key used many times.
import { expect } from 'chai';
import { createHmac, createSecretKey, randomBytes } from 'node:crypto';
import { hmacBackend } from '../../core/protocol/tag.js';

describe('protocol tag: HMAC-SHA256 backends', () => {
  it('sodium and node:crypto give the same digest for keys of 16 to 100 bytes, the same key reused', () => {
    const sodium = hmacBackend('sodium');
    const node = hmacBackend('node');
    for (const keyLength of [16, 32, 63, 64, 65, 100]) {
      const raw = randomBytes(keyLength);
      const key = createSecretKey(raw);
      for (let i = 0; i < 20; i++) {
        const input = randomBytes(16);
        const expected = createHmac('sha256', raw).update(input).digest();
        expect(Buffer.from(sodium(key, input)).equals(expected), `sodium, ${keyLength}-byte key`).to.equal(true);
        expect(Buffer.from(node(key, input)).equals(expected), `node, ${keyLength}-byte key`).to.equal(true);
      }
    }
  });

  it('refuses an unknown backend precisely', () => {
    expect(() => hmacBackend('md5')).to.throw(/unknown HMAC backend 'md5'.*sodium or node/);
  });
});
