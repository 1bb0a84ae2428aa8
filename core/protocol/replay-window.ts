// Sliding replay window over 64-bit counters, the bitmap of RFC 6479 as WireGuard's replay.go
// lays it out: a ring of 64-bit blocks; moving forward clears whole blocks instead of shifting
// bits. The window is 2048 counters wide (C is fresh when C > H, or H − C < 2048 and C was not
// seen). RFC 6479 needs window/64 + 1 = 33 blocks; the ring has 64 so that a block's slot is
// a mask, as in replay.go. Each 64-bit block is held as two 32-bit words.

export const REPLAY_WINDOW = 2048n;
const RING_BLOCKS = 64;
const RING_MASK = RING_BLOCKS - 1;
const RING_MASK_BIG = BigInt(RING_MASK);

export type WindowCheck = 'fresh' | 'seen' | 'too-old';

export interface ReplayWindow {
  /** H: the highest counter accepted so far (0 if none). */
  readonly highest: bigint;
  /** Looks without recording. Counter 0 is for the caller to refuse. */
  check(counter: bigint): WindowCheck;
  /** Records a counter that check() found fresh. */
  accept(counter: bigint): void;
  /** The window's bitmap (512 bytes), to persist it and restore it exactly with `createReplayWindow`. */
  bitmap(): Buffer;
}

export const BITMAP_BYTES = RING_BLOCKS * 8;

/**
 * A window whose highest accepted counter is `highest`. With `bitmap` (from `bitmap()`), exactly
 * the window that was saved; without, every counter below `highest` counts as seen: after a
 * restart nothing in the window can be replayed, at the price of refusing delayed packets that
 * were never received.
 */
export function createReplayWindow(highest = 0n, bitmap?: Uint8Array): ReplayWindow {
  if (bitmap !== undefined && bitmap.length !== BITMAP_BYTES) throw new RangeError(`a replay window bitmap is ${BITMAP_BYTES} bytes, got ${bitmap.length}`);
  const words = new Uint32Array(RING_BLOCKS * 2).fill(0xffffffff);
  let last = highest;
  if (bitmap) words.set(new Uint32Array(Uint8Array.from(bitmap).buffer));
  else clearAbove(last);

  function clearAbove(counter: bigint): void {
    const bit = Number(counter & 63n);
    const slot = Number((counter >> 6n) & RING_MASK_BIG) * 2;
    // Keep bits 0..bit of the block holding `counter`, clear the rest.
    if (bit < 32) {
      words[slot] &= 2 ** (bit + 1) - 1;
      words[slot + 1] = 0;
    } else {
      words[slot + 1] &= 2 ** (bit - 31) - 1;
    }
  }

  // Bit `counter mod 64` of the block's slot, as a word index and a mask (no tuple: this is per packet).
  const wordOf = (counter: bigint) => Number((counter >> 6n) & RING_MASK_BIG) * 2 + (Number(counter & 63n) >>> 5);
  const maskOf = (counter: bigint) => 1 << Number(counter & 31n);

  return {
    get highest() {
      return last;
    },
    check(counter) {
      if (counter > last) return 'fresh';
      if (last - counter >= REPLAY_WINDOW) return 'too-old';
      return (words[wordOf(counter)] & maskOf(counter)) !== 0 ? 'seen' : 'fresh';
    },
    accept(counter) {
      if (counter > last) {
        const current = last >> 6n;
        const diff = (counter >> 6n) - current;
        const blocks = diff > BigInt(RING_BLOCKS) ? RING_BLOCKS : Number(diff);
        const start = Number(current & RING_MASK_BIG);
        for (let i = 1; i <= blocks; i++) {
          const slot = ((start + i) & RING_MASK) * 2;
          words[slot] = 0;
          words[slot + 1] = 0;
        }
        last = counter;
      }
      words[wordOf(counter)] |= maskOf(counter);
    },
    bitmap: () => Buffer.from(words.buffer.slice(0)),
  };
}
