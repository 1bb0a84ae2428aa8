// X25519 on node:crypto KeyObjects: wrapping raw keys, public-from-private, DH. Secrets go in
// as PKCS#8 DER (fixed prefix); public keys in and out as JWK, which is several times faster
// here than DER (OpenSSL 3's decoders cost about 130 µs per key, JWK about 17 µs) and matters
// for WireGuard handshakes. Ephemerals come straight from node:crypto, which is faster than
// importing random bytes.
import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { checkKeyLength, InvalidKeyError } from './text.js';

const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

export function secretKeyObject(secret: Uint8Array): KeyObject {
  checkKeyLength(secret, 'secret key');
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, secret]), format: 'der', type: 'pkcs8' });
}

export function publicKeyObject(publicKey: Uint8Array): KeyObject {
  checkKeyLength(publicKey, 'public key');
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

/** A key pair as the Noise handshake holds it. */
export interface KeyPair {
  privateKey: KeyObject;
  publicKey: Uint8Array;
}

export function generateKeyPair(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  return { privateKey, publicKey: rawPublicKey(publicKey) };
}

export function keyPairFromPrivate(secret: Uint8Array): KeyPair {
  const privateKey = secretKeyObject(secret);
  return { privateKey, publicKey: rawPublicKey(createPublicKey(privateKey)) };
}

/**
 * X25519 as a handshake uses it: null for a low-order public key instead of throwing, so such
 * a handshake message is dropped like any other that does not authenticate.
 */
export function dh(privateKey: KeyObject, publicKey: Uint8Array | KeyObject): Buffer | null {
  try {
    return sharedSecret(privateKey, publicKey instanceof Uint8Array ? publicKeyObject(publicKey) : publicKey);
  } catch (err) {
    if (err instanceof InvalidKeyError) return null;
    throw err;
  }
}
