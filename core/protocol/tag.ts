// tag = first 8 bytes of HMAC-SHA256(K, u64be(C) ‖ bytes 0..7 of the packet). The full counter is
// authenticated although only its low 24 bits travel, so a wrongly reconstructed counter fails
// the tag check instead of slipping past the replay window.
import { createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';

export const TAG_OFFSET = 8;
export const TAG_LENGTH = 8;

// One input buffer reused for every tag: JavaScript runs this synchronously, so it is never shared.
const input = Buffer.alloc(16);

function mac(key: KeyObject, counter: bigint, packet: Uint8Array): Buffer {
  input.writeBigUInt64BE(counter, 0);
  input.set(packet.subarray(0, TAG_OFFSET), 8);
  return createHmac('sha256', key).update(input).digest();
}

/** Writes the tag into bytes 8..15 of `packet`, whose bytes 0..7 are already set. */
export function writeTag(key: KeyObject, counter: bigint, packet: Uint8Array): void {
  packet.set(mac(key, counter, packet).subarray(0, TAG_LENGTH), TAG_OFFSET);
}

/** Constant-time comparison of the packet's tag with the one computed for `counter`. */
export function tagMatches(key: KeyObject, counter: bigint, packet: Uint8Array): boolean {
  return timingSafeEqual(mac(key, counter, packet).subarray(0, TAG_LENGTH), packet.subarray(TAG_OFFSET, TAG_OFFSET + TAG_LENGTH));
}
