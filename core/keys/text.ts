// X25519 keys in WireGuard's text format: standard base64 of the 32 raw bytes, as `wg genkey` and
// `wg pubkey` write them. The one place that knows the format: the command protocol, the
// WireGuard device, membership and genesis files all parse and check keys here.
import { randomBytes } from 'node:crypto';

export const KEY_LENGTH = 32;

/**
 * A canonical key text, for JSON Schemas (`{ type: 'string', pattern: KEY_PATTERN }`).
 * 32 bytes are 43 base64 digits and one '='; the last digit carries 4 bits, so its 2 low bits
 * must be zero for the text to be canonical (wg refuses anything else, and so do we).
 */
export const KEY_PATTERN = '^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$';
export const KEY_REGEX = new RegExp(KEY_PATTERN);

/** A key text that is not a WireGuard-format key. The message never contains key material. */
export class InvalidKeyError extends Error {
  override name = 'InvalidKeyError';
}

/** A fresh secret, clamped as `wg genkey` does (X25519 clamps anyway; this keeps files identical in form). */
export function generateSecret(): Buffer {
  const secret = randomBytes(KEY_LENGTH);
  secret[0] &= 248;
  secret[31] = (secret[31] & 127) | 64;
  return secret;
}

export function formatKey(raw: Uint8Array): string {
  if (raw.length !== KEY_LENGTH) throw new InvalidKeyError(`a key is ${KEY_LENGTH} bytes, got ${raw.length}`);
  return Buffer.from(raw).toString('base64');
}

/**
 * Parses one key as `wg` reads it: 44 characters of canonical base64, surrounding whitespace
 * (such as the newline `wg genkey` writes) ignored. `what` names the key in the error message.
 */
export function parseKey(text: string, what = 'key'): Buffer {
  const [key, ...rest] = text.trim().split(/\s+/);
  if (key.length === 0) throw new InvalidKeyError(`${what} is empty`);
  if (key.length !== 44) {
    throw new InvalidKeyError(`${what} must be 44 characters of base64 (32 bytes), got ${key.length} characters`);
  }
  if (!KEY_REGEX.test(key)) {
    throw new InvalidKeyError(`${what} is not canonical base64 of 32 bytes (characters A-Z a-z 0-9 + /, ending in '=')`);
  }
  if (rest.length > 0) throw new InvalidKeyError(`${what}: unexpected characters after the key`);
  return Buffer.from(key, 'base64');
}

export function checkKeyLength(raw: Uint8Array, what: string): void {
  if (raw.length !== KEY_LENGTH) throw new InvalidKeyError(`${what} must be ${KEY_LENGTH} bytes, got ${raw.length}`);
}
