// The receive-side sliding window against replayed transport messages (RFC 6479's bitmap ring,
// as wireguard-go's replay.go, with its original 2,048-bit ring). Blocks are 32 bits wide here
// because JavaScript's bit operators are; the ring keeps one block spare so moving the window
// forward never clears bits still inside it.

const BLOCK_BIT_LOG = 5;
const BLOCK_BITS = 1 << BLOCK_BIT_LOG;
const RING_BLOCKS = 2048 / BLOCK_BITS;
const BLOCK_MASK = RING_BLOCKS - 1;
const BIT_MASK = BLOCK_BITS - 1;

/** How far behind the highest counter seen a counter may be and still be accepted once. */
export const WINDOW_SIZE = (RING_BLOCKS - 1) * BLOCK_BITS;

export interface ReplayFilter {
  last: number;
  ring: Uint32Array;
}

export function createReplayFilter(): ReplayFilter {
  return { last: 0, ring: new Uint32Array(RING_BLOCKS) };
}

/**
 * Accepts each counter below `limit` at most once, and none that fell behind the window. Call
 * only after the message authenticated, so a forged counter cannot move the window.
 */
export function validateCounter(f: ReplayFilter, counter: number, limit: number): boolean {
  if (counter >= limit) return false;
  let indexBlock = Math.floor(counter / BLOCK_BITS);
  if (counter > f.last) {
    const current = Math.floor(f.last / BLOCK_BITS);
    const diff = Math.min(indexBlock - current, RING_BLOCKS);
    for (let i = current + 1; i <= current + diff; i++) f.ring[i & BLOCK_MASK] = 0;
    f.last = counter;
  } else if (f.last - counter > WINDOW_SIZE) {
    return false;
  }
  indexBlock &= BLOCK_MASK;
  const bit = 1 << (counter & BIT_MASK);
  const old = f.ring[indexBlock];
  if (old & bit) return false;
  f.ring[indexBlock] = old | bit;
  return true;
}
