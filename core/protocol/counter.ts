// The 64-bit command counter: only its low 24 bits travel, the receiver rebuilds the rest.

export const MAX_COUNTER = (1n << 64n) - 1n;
const LOW_MASK = 0xffffffn;
const WINDOW = 1n << 24n;
const HALF_WINDOW = 1n << 23n;

export function checkCounter(counter: bigint): void {
  if (typeof counter !== 'bigint' || counter < 0n || counter > MAX_COUNTER) {
    throw new RangeError(`counter must be an integer in 0..2^64-1, got ${String(counter)}`);
  }
}

/**
 * The full counter nearest to H + 1 whose low 24 bits are `low24` (the spec's receive step 3,
 * as QUIC decodes packet numbers). The result can exceed 2^64 − 1 only when H is within 2^23 of
 * the end of the counter space; no valid tag exists for such a value.
 */
export function reconstructCounter(highest: bigint, low24: number): bigint {
  const expected = highest + 1n;
  let candidate = (expected & ~LOW_MASK) | BigInt(low24);
  if (candidate + HALF_WINDOW <= expected) candidate += WINDOW;
  else if (candidate > expected + HALF_WINDOW && candidate >= WINDOW) candidate -= WINDOW;
  return candidate;
}
