import { expect } from 'chai';
import { REJECT_AFTER_MESSAGES } from '../../core/wireguard/constants.js';
import { createReplayFilter, validateCounter, WINDOW_SIZE } from '../../core/wireguard/replay.js';

describe('wireguard replay: 2,048-bit sliding window', () => {
  const LIMIT = REJECT_AFTER_MESSAGES;

  it('accepts each counter once, in order or not', () => {
    const f = createReplayFilter();
    for (const c of [0, 1, 2, 5, 4, 3, 10, 7]) expect(validateCounter(f, c, LIMIT), `first ${c}`).to.equal(true);
    for (const c of [0, 3, 5, 10]) expect(validateCounter(f, c, LIMIT), `again ${c}`).to.equal(false);
  });

  it('keeps exactly WINDOW_SIZE counters behind the highest one', () => {
    expect(WINDOW_SIZE).to.equal(2016);
    const f = createReplayFilter();
    const top = 5000;
    expect(validateCounter(f, top, LIMIT)).to.equal(true);
    expect(validateCounter(f, top - WINDOW_SIZE - 1, LIMIT)).to.equal(false);
    expect(validateCounter(f, top - WINDOW_SIZE, LIMIT)).to.equal(true);
    expect(validateCounter(f, top - WINDOW_SIZE, LIMIT)).to.equal(false);
    expect(validateCounter(f, top - 1, LIMIT)).to.equal(true);
  });

  it('forgets old bits when the window jumps far ahead, but not counters still inside it', () => {
    const f = createReplayFilter();
    for (let c = 0; c < 100; c++) validateCounter(f, c, LIMIT);
    expect(validateCounter(f, 100 + 10 * WINDOW_SIZE, LIMIT)).to.equal(true);
    // A counter that maps to a reused ring slot is new again only if it is in the window.
    expect(validateCounter(f, 99, LIMIT)).to.equal(false);
    const g = createReplayFilter();
    validateCounter(g, 1000, LIMIT);
    expect(validateCounter(g, 1000 + 64, LIMIT)).to.equal(true);
    expect(validateCounter(g, 1000, LIMIT)).to.equal(false);
    expect(validateCounter(g, 1001, LIMIT)).to.equal(true);
  });

  it('behaves like a reference set over a long random sequence', () => {
    const f = createReplayFilter();
    const seen = new Set<number>();
    let max = 0;
    let seed = 42;
    const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    for (let i = 0; i < 20000; i++) {
      const c = Math.max(0, Math.floor(max + 200 - rand() * 2400));
      const expected = !seen.has(c) && (c > max || max - c <= WINDOW_SIZE);
      expect(validateCounter(f, c, LIMIT), `counter ${c} (max ${max})`).to.equal(expected);
      if (expected) { seen.add(c); max = Math.max(max, c); }
    }
  });

  it('rejects counters at or above the limit', () => {
    const f = createReplayFilter();
    expect(validateCounter(f, 9, 10)).to.equal(true);
    expect(validateCounter(f, 10, 10)).to.equal(false);
    expect(validateCounter(createReplayFilter(), 2 ** 64, LIMIT)).to.equal(false);
  });

  it('works for counters above 2^32', () => {
    const f = createReplayFilter();
    const base = 2 ** 40 + 7;
    expect(validateCounter(f, base, LIMIT)).to.equal(true);
    expect(validateCounter(f, base - 1, LIMIT)).to.equal(true);
    expect(validateCounter(f, base, LIMIT)).to.equal(false);
    expect(validateCounter(f, base - 1, LIMIT)).to.equal(false);
  });
});
