// The authority's genesis key: Ed25519, kept as genesis.key (0600) in the admin's instance
// directory beside its WireGuard and command keys. It signs what the authority says before a
// node has a shared secret with it (beacons, claims) and the membership updates it pushes, so
// anyone may verify them and only the authority can make them. Nodes pin its public half.
// node:crypto does Ed25519 (about 20x faster than pure JS here, which matters when forged
// beacons arrive in bulk); raw keys are wrapped in the fixed PKCS#8 / SPKI prefixes.
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { loadSecret } from '../membership/instance-files.js';
import { formatKey, KEY_LENGTH } from '../keys/index.js';

export const GENESIS_KEY_FILE = 'genesis.key';
export const SIGNATURE_LENGTH = 64;

const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export interface GenesisKey {
  /** Ed25519 public key, 32 raw bytes. */
  readonly publicKey: Buffer;
  /** The public key in the text form every other key has (base64 of 32 bytes). */
  readonly publicText: string;
  sign(message: Uint8Array): Buffer;
}

export function genesisKeyFromSeed(seed: Uint8Array): GenesisKey {
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const publicKey = createPublicKey(privateKey).export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);
  return { publicKey, publicText: formatKey(publicKey), sign: (message) => sign(null, message, privateKey) };
}

/** The admin's genesis key, made on first use (any 32 random bytes are an Ed25519 seed). */
export function loadGenesisKey(instanceDir: string, create: boolean): GenesisKey {
  return genesisKeyFromSeed(loadSecret(instanceDir, GENESIS_KEY_FILE, create));
}

/** A verifier for one pinned public key; the key is imported once. */
export function signatureVerifier(publicKey: Uint8Array): (message: Uint8Array, signature: Uint8Array) => boolean {
  if (publicKey.length !== KEY_LENGTH) throw new RangeError(`an Ed25519 public key is ${KEY_LENGTH} bytes, got ${publicKey.length}`);
  const key: KeyObject = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
  return (message, signature) => {
    if (signature.length !== SIGNATURE_LENGTH) return false;
    try {
      return verify(null, message, key, signature);
    } catch {
      return false;
    }
  };
}

/**
 * How a node checks what the authority signed with its genesis key: true for the key pinned now,
 * or the reason it is refused (authority-pin.ts's pinnedGenesisCheck also knows the key a
 * hand-over replaced, and when its overlap ends).
 */
export type GenesisSignatureCheck = (message: Uint8Array, signature: Uint8Array) => { ok: true; previous: boolean } | { ok: false; reason: 'forged' | 'previous-key-ended'; detail?: string };

/** The check for one genesis key and no other. */
export function genesisCheck(publicKey: Uint8Array): GenesisSignatureCheck {
  const verify = signatureVerifier(publicKey);
  return (message, signature) => (verify(message, signature) ? { ok: true, previous: false } : { ok: false, reason: 'forged' });
}
