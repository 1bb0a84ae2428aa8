// Per-node, per-epoch keys: K = HKDF-SHA256(ss, salt, info = [epoch, nodeId], 32). The salt
// separates the command channel from the telemetry channel (and both from the proof a node gives
// of holding a new identity key), so a tag valid on one is never valid on another.
import { createSecretKey, hkdfSync, type KeyObject } from 'node:crypto';
import { publicKeyObject, secretKeyObject, sharedSecret } from '../keys/index.js';

export const COMMAND_SALT = 'ppn/cmd/v1';
export const TELEMETRY_SALT = 'ppn/telemetry/v1';
export const IDENTITY_SALT = 'ppn/identity/v1';
export type Channel = 'command' | 'telemetry' | 'identity';
const SALTS: Record<Channel, string> = { command: COMMAND_SALT, telemetry: TELEMETRY_SALT, identity: IDENTITY_SALT };

export const MAX_EPOCH = 63;

export function checkEpoch(epoch: number): void {
  if (!Number.isInteger(epoch) || epoch < 0 || epoch > MAX_EPOCH) {
    throw new RangeError(`key epoch must be an integer in 0..${MAX_EPOCH}, got ${epoch}`);
  }
}

export function checkNodeId(nodeId: number): void {
  if (!Number.isInteger(nodeId) || nodeId < 1 || nodeId > 254) {
    throw new RangeError(`node id must be an integer in 1..254, got ${nodeId}`);
  }
}

/** The X25519 shared secret between one side's secret and the other side's public key. */
export function pairSecret(ownSecret: Uint8Array, peerPublic: Uint8Array): Buffer {
  return sharedSecret(secretKeyObject(ownSecret), publicKeyObject(peerPublic));
}

export function deriveKey(ss: Uint8Array, channel: Channel, epoch: number, nodeId: number): Buffer {
  checkEpoch(epoch);
  checkNodeId(nodeId);
  return Buffer.from(hkdfSync('sha256', ss, SALTS[channel], Uint8Array.of(epoch, nodeId), 32));
}

/** The derived key as a KeyObject, ready for createHmac without re-importing it per packet. */
export function deriveHmacKey(ss: Uint8Array, channel: Channel, epoch: number, nodeId: number): KeyObject {
  return createSecretKey(deriveKey(ss, channel, epoch, nodeId));
}
