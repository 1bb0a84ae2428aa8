// WireGuard-format X25519 keys, shared by every part of the house (a leaf: imports nothing of
// the project). Key text: ./text.ts; KeyObjects and DH: ./x25519.ts.
export { KEY_LENGTH, KEY_PATTERN, KEY_REGEX, InvalidKeyError, generateSecret, formatKey, parseKey } from './text.js';
export {
  secretKeyObject, publicKeyObject, rawPublicKey, publicKeyOf, sharedSecret,
  generateKeyPair, keyPairFromPrivate, dh, type KeyPair,
} from './x25519.js';
