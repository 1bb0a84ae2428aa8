// X25519 keys in WireGuard's formats (32 raw bytes, shown as base64; hex on the UAPI socket),
// with node:crypto doing the curve work. Public keys go in and out as JWK, which is several times
// faster here than DER (OpenSSL 3's decoders cost about 130 µs per key, JWK about 17 µs); the
// one private key a device imports uses PKCS#8, since a JWK private key also wants its public half.
import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';

const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

export const KEY_SIZE = 32;

/** Parses a base64 WireGuard key; throws with a message fit for a config error. */
export function parseKey(text: string): Uint8Array {
  const trimmed = text.trim();
  const bytes = Buffer.from(trimmed, 'base64');
  if (bytes.length !== KEY_SIZE || bytes.toString('base64') !== trimmed) {
    throw new Error('not a WireGuard key (expected 44 characters of base64 encoding 32 bytes)');
  }
  return new Uint8Array(bytes);
}

export function keyToBase64(key: Uint8Array): string {
  return Buffer.from(key).toString('base64');
}

export function keyToHex(key: Uint8Array): string {
  return Buffer.from(key).toString('hex');
}

export function privateKeyObject(secret: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, secret]), format: 'der', type: 'pkcs8' });
}

export function publicKeyObject(pub: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(pub).toString('base64url') }, format: 'jwk' });
}

function rawPublic(obj: KeyObject): Uint8Array {
  return new Uint8Array(Buffer.from(obj.export({ format: 'jwk' }).x!, 'base64url'));
}

export function publicKeyFromPrivate(secret: Uint8Array): Uint8Array {
  return rawPublic(createPublicKey(privateKeyObject(secret)));
}

/** A fresh private key, clamped like `wg genkey` so it reads the same in every tool. */
export function generatePrivateKey(): Uint8Array {
  const k = new Uint8Array(randomBytes(KEY_SIZE));
  k[0] &= 248;
  k[31] = (k[31] & 127) | 64;
  return k;
}

export interface KeyPair {
  privateKey: KeyObject;
  publicKey: Uint8Array;
}

export function generateKeyPair(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  return { privateKey, publicKey: rawPublic(publicKey) };
}

export function keyPairFromPrivate(secret: Uint8Array): KeyPair {
  const privateKey = privateKeyObject(secret);
  return { privateKey, publicKey: rawPublic(createPublicKey(privateKey)) };
}

/**
 * X25519. Returns null for a low-order public key (an all-zero shared secret, which OpenSSL
 * refuses): the handshake must fail rather than derive keys an attacker knows.
 */
export function dh(privateKey: KeyObject, publicKey: Uint8Array | KeyObject): Buffer | null {
  try {
    const pub = publicKey instanceof Uint8Array ? publicKeyObject(publicKey) : publicKey;
    return diffieHellman({ privateKey, publicKey: pub });
  } catch {
    return null;
  }
}
