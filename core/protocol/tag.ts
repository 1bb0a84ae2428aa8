// tag = first 8 bytes of HMAC-SHA256(K, u64be(C) ‖ bytes 0..7 of the packet). The full counter is
// authenticated although only its low 24 bits travel, so a wrongly reconstructed counter fails
// the tag check instead of slipping past the replay window.
import { createHmac, type KeyObject } from 'node:crypto';

export const TAG_OFFSET = 8;
export const TAG_LENGTH = 8;

// One input buffer reused for every tag: JavaScript runs this synchronously, so it is never shared.
const input = Buffer.alloc(16);

function mac(key: KeyObject, counter: bigint, packet: Uint8Array): Buffer {
  input.writeBigUInt64BE(counter, 0);
  for (let i = 0; i < TAG_OFFSET; i++) input[8 + i] = packet[i];
  return createHmac('sha256', key).update(input).digest();
}

/** Writes the tag into bytes 8..15 of `packet`, whose bytes 0..7 are already set. */
export function writeTag(key: KeyObject, counter: bigint, packet: Uint8Array): void {
  const full = mac(key, counter, packet);
  for (let i = 0; i < TAG_LENGTH; i++) packet[TAG_OFFSET + i] = full[i];
}

/**
 * Compares the packet's tag with the one computed for `counter` in constant time: every byte
 * is looked at, no early exit. (A plain loop here is cheaper than crypto.timingSafeEqual, whose
 * native call and the two views it needs cost about a tenth of the whole check.)
 */
export function tagMatches(key: KeyObject, counter: bigint, packet: Uint8Array): boolean {
  const full = mac(key, counter, packet);
  let difference = 0;
  for (let i = 0; i < TAG_LENGTH; i++) difference |= full[i] ^ packet[TAG_OFFSET + i];
  return difference === 0;
}
