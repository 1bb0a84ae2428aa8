import { expect } from 'chai';
import { createReplayWindow, type WindowCheck } from '../../core/protocol/replay-window.js';

/** The obvious model: a set of accepted counters, everything up to the starting H counted as seen. */
function model(start: bigint) {
  const seen = new Set<bigint>();
  let highest = start;
  return {
    check(c: bigint): WindowCheck {
      if (c > highest) return 'fresh';
      if (highest - c >= 2048n) return 'too-old';
      return c <= start || seen.has(c) ? 'seen' : 'fresh';
    },
    accept(c: bigint) {
      seen.add(c);
      if (c > highest) highest = c;
    },
  };
}

// A small deterministic generator so a failure can be replayed.
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => ((x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), (x >>> 0) / 2 ** 32);
}

describe('protocol replay window', () => {
  it('agrees with a set-based model over random traffic (jumps, reordering, duplicates)', () => {
    for (const start of [0n, 1n, 63n, 64n, 5000n, (1n << 40n) + 31n]) {
      const random = rng(Number(start % 1000n) + 7);
      const window = createReplayWindow(start);
      const reference = model(start);
      let top = start;
      for (let i = 0; i < 20_000; i++) {
        const r = random();
        let c: bigint;
        if (r < 0.4) c = top + 1n + BigInt(Math.floor(random() * 70)); // forward, often across blocks
        else if (r < 0.45) c = top + BigInt(Math.floor(random() * 5000)); // big jumps
        else c = top - BigInt(Math.floor(random() * 2200)); // old, in and just beyond the window
        if (c < 1n) continue;
        const verdict = window.check(c);
        expect(verdict, `start ${start}, step ${i}, C=${c}`).to.equal(reference.check(c));
        if (verdict === 'fresh') {
          window.accept(c);
          reference.accept(c);
          if (c > top) top = c;
        }
      }
    }
  });

  it('has the 2048-wide edge exactly', () => {
    const w = createReplayWindow();
    w.accept(10_000n);
    expect(w.check(10_000n - 2047n)).to.equal('fresh');
    expect(w.check(10_000n - 2048n)).to.equal('too-old');
    expect(w.check(10_000n)).to.equal('seen');
    expect(w.check(10_001n)).to.equal('fresh');
  });

  it('after a restart counts everything below H as seen, but nothing above', () => {
    for (const h of [0n, 31n, 32n, 63n, 64n, 100n, 127n]) {
      const w = createReplayWindow(h);
      for (let c = h > 2047n ? h - 2047n : 1n; c <= h; c++) expect(w.check(c), `H=${h} C=${c}`).to.equal('seen');
      for (let c = h + 1n; c <= h + 200n; c++) expect(w.check(c), `H=${h} C=${c}`).to.equal('fresh');
    }
  });

  it('clears the whole ring after a jump far beyond it', () => {
    const w = createReplayWindow();
    for (let c = 1n; c <= 3000n; c++) w.accept(c);
    w.accept(1_000_000n);
    for (let c = 1_000_000n - 2047n; c < 1_000_000n; c++) expect(w.check(c)).to.equal('fresh');
  });
});
