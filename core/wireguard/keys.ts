// X25519 as the Noise handshake uses it: key pairs held as node:crypto KeyObjects (ephemerals
// straight from node:crypto, which is faster than importing random bytes), and DH that answers
// null for a low-order public key instead of throwing, so such a handshake message is dropped
// like any other that does not authenticate. Key text and raw-key wrapping live in
// core/protocol/keys.ts.
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { InvalidKeyError, publicKeyObject, rawPublicKey, secretKeyObject, sharedSecret } from '../protocol/keys.js';

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

/** X25519; null when the public key is of low order (the shared secret would be public knowledge). */
export function dh(privateKey: KeyObject, publicKey: Uint8Array | KeyObject): Buffer | null {
  try {
    return sharedSecret(privateKey, publicKey instanceof Uint8Array ? publicKeyObject(publicKey) : publicKey);
  } catch (err) {
    if (err instanceof InvalidKeyError) return null;
    throw err;
  }
}
