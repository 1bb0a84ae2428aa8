import { expect } from 'chai';
import { reconstructCounter } from '../../core/protocol/counter.js';
import { pairing } from './fixtures/setup.js';

const W = 1n << 24n;
const HALF = 1n << 23n;

describe('protocol counter reconstruction', () => {
  it('follows the spec at its edges', () => {
    const cases: Array<[bigint, number, bigint]> = [
      [0n, 1, 1n],
      [0n, 0, 0n], // C = 0 comes back as 0 and is refused later
      [0n, 0xffffff, 0xffffffn], // no negative candidate: stays up
      [W - 2n, 0, W], // expected = 2^24 − 1: 0 wraps up
      [W - 1n, 0, W],
      [W, 0xffffff, W - 1n], // one below H, across the wrap
      [HALF + 4n, 5, W + 5n], // cand + 2^23 == expected: moves up
      [HALF + 4n, 6, 6n], // one more and it stays
      [W + 9n, 10 + (1 << 23), W + 10n + HALF], // cand == expected + 2^23: stays
      [W + 9n, 11 + (1 << 23), 11n + HALF], // one more and it moves down
      [5n * W + 100n, 99, 5n * W + 99n],
      [5n * W + 100n, 101, 5n * W + 101n],
    ];
    for (const [h, low, c] of cases) expect(reconstructCounter(h, low), `H=${h} low=${low}`).to.equal(c);
  });

  it('every counter in (H + 1 − 2^23, H + 1 + 2^23] comes back from its low 24 bits', () => {
    for (const h of [0n, 1n, HALF, W - 1n, W, 3n * W + 12345n, (1n << 40n) + 7n]) {
      const expected = h + 1n;
      for (const delta of [-HALF + 1n, -HALF + 2n, -1n, 0n, 1n, HALF - 1n, HALF]) {
        const c = expected + delta;
        if (c < 0n) continue;
        expect(reconstructCounter(h, Number(c & 0xffffffn)), `H=${h} C=${c}`).to.equal(c);
      }
    }
  });

  it('a node follows the counter across several 2^24 wraps', () => {
    const p = pairing();
    const verifier = p.verifier();
    let c = 0n;
    const steps = [1n, HALF, HALF, 3n, W - HALF + 1n - 2n, HALF, 77n, HALF, HALF, HALF, 1n, HALF - 5n];
    for (const step of steps) {
      c += step;
      const result = verifier.verify(p.packet(c));
      expect(result.ok, `C=${c}`).to.equal(true);
      if (result.ok) expect(result.counter).to.equal(c);
    }
    expect(c / W >= 3n, `reached ${c}`).to.equal(true);
  });

  it('a jump of more than 2^23 is read as the wrong counter and fails the tag', () => {
    const p = pairing();
    const verifier = p.verifier();
    expect(verifier.verify(p.packet(HALF)).ok).to.equal(true);
    expect(verifier.verify(p.packet(W + 1n)).ok).to.equal(true); // H + 1 + 2^23: the farthest reach
    const result = verifier.verify(p.packet(W + 3n + HALF)); // one beyond it
    expect(result).to.deep.equal({ ok: false, reason: 'tag' });
  });
});
