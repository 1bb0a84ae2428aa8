// The whitepaper's primitives (§5.4): HASH, MAC, HMAC, KDFn, AEAD, XAEAD, DH.
// node:crypto does BLAKE2s-256, HMAC-BLAKE2s and X25519: it is several times faster here than
// pure JavaScript. ChaCha20-Poly1305 goes through aead.ts (libsodium, or node:crypto as the
// fallback). @noble only fills what neither has: keyed BLAKE2s with a 16-byte output (MAC) and
// XChaCha20-Poly1305 (cookie replies).
import { createHash, createHmac } from 'node:crypto';
import { blake2s } from '@noble/hashes/blake2.js';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { aeadBackend, NONCE_LEN, TAG_LEN, writeNonce, type Aead } from './aead.js';

export { TAG_LEN } from './aead.js';

export function hash(...parts: Uint8Array[]): Buffer {
  const h = createHash('blake2s256');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** Keyed BLAKE2s with a 16-byte digest, for mac1, mac2 and the cookie itself. */
export function mac(key: Uint8Array, data: Uint8Array): Uint8Array {
  return blake2s(data, { key, dkLen: 16 });
}

export function hmac(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const h = createHmac('blake2s256', key);
  for (const p of parts) h.update(p);
  return h.digest();
}

const ONE = Uint8Array.of(1);
const TWO = Uint8Array.of(2);
const THREE = Uint8Array.of(3);

export function kdf1(key: Uint8Array, input: Uint8Array): Buffer {
  return hmac(hmac(key, input), ONE);
}

export function kdf2(key: Uint8Array, input: Uint8Array): [Buffer, Buffer] {
  const t0 = hmac(key, input);
  const t1 = hmac(t0, ONE);
  return [t1, hmac(t0, t1, TWO)];
}

export function kdf3(key: Uint8Array, input: Uint8Array): [Buffer, Buffer, Buffer] {
  const t0 = hmac(key, input);
  const t1 = hmac(t0, ONE);
  const t2 = hmac(t0, t1, TWO);
  return [t1, t2, hmac(t0, t2, THREE)];
}

// Handshake messages (noise.ts) seal and open through the process's default backend, chosen
// at first use (so PPN_WG_AEAD set by a test before it builds a device still counts).
let handshakeAead: Aead | undefined;

/** AEAD(key, counter, plaintext, aad): the counter as a number, or as its 8 wire bytes. */
export function aeadSeal(key: Uint8Array, counter: number | Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Buffer {
  handshakeAead ??= aeadBackend();
  const out = Buffer.allocUnsafe(plaintext.length + TAG_LEN);
  out.set(plaintext);
  handshakeAead.sealInPlace(key, writeNonce(Buffer.allocUnsafe(NONCE_LEN), counter), out, aad);
  return out;
}

/** Opens an AEAD box; null when it does not authenticate. */
export function aeadOpen(key: Uint8Array, counter: number | Uint8Array, box: Uint8Array, aad?: Uint8Array): Buffer | null {
  handshakeAead ??= aeadBackend();
  // A copy: opening may decrypt in place, and the box is part of the caller's message.
  return handshakeAead.openInPlace(key, writeNonce(Buffer.allocUnsafe(NONCE_LEN), counter), Buffer.from(box), aad);
}

export function xaeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  return xchacha20poly1305(key, nonce, aad).encrypt(plaintext);
}

export function xaeadOpen(key: Uint8Array, nonce: Uint8Array, box: Uint8Array, aad: Uint8Array): Uint8Array | null {
  try {
    return xchacha20poly1305(key, nonce, aad).decrypt(box);
  } catch {
    return null;
  }
}

/** Overwrites key material in place, so a zeroed session cannot be revived from memory. */
export function wipe(...buffers: (Uint8Array | undefined)[]): void {
  for (const b of buffers) b?.fill(0);
}
