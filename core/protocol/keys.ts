// X25519 keys in WireGuard's text format: standard base64 of the 32 raw bytes, as `wg genkey` and
// `wg pubkey` write them, and as node:crypto KeyObjects. The one place that parses key text and
// wraps raw keys for node:crypto (the command protocol and core/wireguard both use it). Secrets
// go in as PKCS#8 DER (fixed prefix); public keys in and out as JWK, which is several times
// faster here than DER (OpenSSL 3's decoders cost about 130 µs per key, JWK about 17 µs) and
// matters for WireGuard handshakes.
import { createPrivateKey, createPublicKey, diffieHellman, randomBytes, type KeyObject } from 'node:crypto';

export const KEY_LENGTH = 32;

const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
// 32 bytes are 43 base64 digits and one '='; the last digit carries 4 bits, so its 2 low bits
// must be zero for the text to be canonical (wg refuses anything else, and so do we).
const CANONICAL_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

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
  if (!CANONICAL_KEY.test(key)) {
    throw new InvalidKeyError(`${what} is not canonical base64 of 32 bytes (characters A-Z a-z 0-9 + /, ending in '=')`);
  }
  if (rest.length > 0) throw new InvalidKeyError(`${what}: unexpected characters after the key`);
  return Buffer.from(key, 'base64');
}

function checkLength(raw: Uint8Array, what: string): void {
  if (raw.length !== KEY_LENGTH) throw new InvalidKeyError(`${what} must be ${KEY_LENGTH} bytes, got ${raw.length}`);
}

export function secretKeyObject(secret: Uint8Array): KeyObject {
  checkLength(secret, 'secret key');
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, secret]), format: 'der', type: 'pkcs8' });
}

export function publicKeyObject(publicKey: Uint8Array): KeyObject {
  checkLength(publicKey, 'public key');
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(publicKey).toString('base64url') }, format: 'jwk' });
}

/** The 32 raw bytes of an X25519 public KeyObject. */
export function rawPublicKey(key: KeyObject): Buffer {
  return Buffer.from(key.export({ format: 'jwk' }).x!, 'base64url');
}

export function publicKeyOf(secret: Uint8Array): Buffer {
  return rawPublicKey(createPublicKey(secretKeyObject(secret)));
}

/**
 * X25519(secret, public). A low-order public key gives an all-zero result, which would make
 * every derived key public knowledge: refused (OpenSSL refuses it too; the check keeps us safe
 * whatever the library does).
 */
export function sharedSecret(secret: KeyObject, publicKey: KeyObject): Buffer {
  let ss: Buffer;
  try {
    ss = diffieHellman({ privateKey: secret, publicKey });
  } catch {
    throw new InvalidKeyError('X25519 with this public key gives no usable shared secret (low-order point)');
  }
  if (ss.every((b) => b === 0)) {
    throw new InvalidKeyError('X25519 with this public key gives an all-zero shared secret (low-order point)');
  }
  return ss;
}
