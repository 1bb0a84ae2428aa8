// The identity-change request: a node asks the authority to record a new identity key (its
// WireGuard key, also its half of every derived key). Sent on the telemetry channel beside acks,
// proved twice: its tag is under the node's telemetry key of epoch e, derived from the key it is
// leaving, which only the node holds; the proof is under a key derived from the new secret, so
// no node can claim a key it does not hold (another node's, or one whose secret it never had).
// The authority records the new key and moves the node to epoch e + 1, bound to it: a key change
// is an epoch move (docs/keys.md). Layout (network byte order), described in docs/protocol.md:
//   0    1  type 0xC4: bits 7–6 = 11 (telemetry); bits 5–0 = 4 (identity change v1)
//   1    1  key epoch e the change is made from (the tag's), 0..63
//   2    1  node id, 1..254
//   3   32  the new X25519 public key
//   35  16  proof: first 16 bytes of HMAC-SHA256(Ki, bytes 0..34),
//           Ki = HKDF-SHA256(X25519(new secret, authority command key of e), "ppn/identity/v1", [e, N])
//   51  16  tag: first 16 bytes of HMAC-SHA256(K_telemetry(e), bytes 0..50)
import { createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';
import { InvalidKeyError, publicKeyOf } from '../keys/index.js';
import { authorityPairsOf, createAuthorityKeyCache, nodeKeysOf, type AuthorityKeysOption, type NodeKeysOption } from './epoch-keys.js';
import { checkEpoch, checkNodeId, deriveHmacKey, pairSecret } from './key-derivation.js';

export const IDENTITY_CHANGE_TYPE = 0xc4;
export const IDENTITY_CHANGE_LENGTH = 67;
const KEY_AT = 3;
const PROOF_AT = 35;
const TAG_AT = 51;
const MAC_LENGTH = 16;

export interface IdentityChange {
  /** The epoch the change is made from: the node's, whose telemetry key tags it. */
  epoch: number;
  nodeId: number;
  /** The new X25519 public key, 32 raw bytes. */
  publicKey: Buffer;
}

const macOf = (key: KeyObject, signed: Uint8Array) => createHmac('sha256', key).update(signed).digest().subarray(0, MAC_LENGTH);

/** Node side: requests for any epoch, tagged with this node's telemetry keys (node.keys). */
export function createIdentityChangeSigner(options: { nodeId: number } & NodeKeysOption) {
  const { nodeId } = options;
  checkNodeId(nodeId);
  const keys = nodeKeysOf(options);
  return {
    /** The request to move from `epoch` to the key pair of `newSecret`. */
    encode(epoch: number, newSecret: Uint8Array): Buffer {
      checkEpoch(epoch);
      const out = Buffer.alloc(IDENTITY_CHANGE_LENGTH);
      out[0] = IDENTITY_CHANGE_TYPE;
      out[1] = epoch;
      out[2] = nodeId;
      publicKeyOf(newSecret).copy(out, KEY_AT);
      const proofKey = deriveHmacKey(pairSecret(newSecret, keys.pairOf(epoch).authorityPublic), 'identity', epoch, nodeId);
      macOf(proofKey, out.subarray(0, PROOF_AT)).copy(out, PROOF_AT);
      macOf(keys.hmacKey('telemetry', epoch, nodeId), out.subarray(0, TAG_AT)).copy(out, TAG_AT);
      return out;
    },
  };
}

export type IdentityChangeRejectReason =
  | 'length' // not 67 bytes
  | 'type' // byte 0 is not 0xC4
  | 'epoch' // not 0..63
  | 'unknown-node' // no active node with that id (or no key of it for that epoch)
  | 'tag' // not under the node's telemetry key of that epoch: not from the node
  | 'bad-key' // the new key gives no usable shared secret (a low-order point)
  | 'proof'; // the sender does not hold the new key's secret

export const IDENTITY_CHANGE_REJECT_REASONS: readonly IdentityChangeRejectReason[] = ['length', 'type', 'epoch', 'unknown-node', 'tag', 'bad-key', 'proof'];

export type IdentityChangeVerifyResult = ({ ok: true } & IdentityChange) | { ok: false; reason: IdentityChangeRejectReason };

/**
 * Authority side: the tag before anything else, then the new key, then its proof. Stateless: what
 * a verified request may change (only a node still at `epoch` on its old key moves; a repeat of
 * one already taken changes nothing) is the registry's to decide.
 */
export function createIdentityChangeVerifier(options: AuthorityKeysOption) {
  const pairs = authorityPairsOf(options);
  const cache = options.cache ?? createAuthorityKeyCache();
  return {
    verify(datagram: Uint8Array): IdentityChangeVerifyResult {
      if (datagram.length !== IDENTITY_CHANGE_LENGTH) return { ok: false, reason: 'length' };
      const message = Buffer.from(datagram.buffer, datagram.byteOffset, datagram.length);
      if (message[0] !== IDENTITY_CHANGE_TYPE) return { ok: false, reason: 'type' };
      const epoch = message[1];
      if (epoch > 63) return { ok: false, reason: 'epoch' };
      const nodeId = message[2];
      const pair = nodeId >= 1 && nodeId <= 254 ? pairs(nodeId, epoch) : undefined;
      if (pair === undefined) return { ok: false, reason: 'unknown-node' };
      const tag = macOf(cache.hmacKey('telemetry', nodeId, epoch, pair), message.subarray(0, TAG_AT));
      if (!timingSafeEqual(tag, message.subarray(TAG_AT))) return { ok: false, reason: 'tag' };
      const publicKey = Buffer.from(message.subarray(KEY_AT, PROOF_AT));
      let proofKey: KeyObject;
      try {
        proofKey = deriveHmacKey(pairSecret(pair.authoritySecret, publicKey), 'identity', epoch, nodeId);
      } catch (err) {
        if (err instanceof InvalidKeyError) return { ok: false, reason: 'bad-key' };
        throw err;
      }
      if (!timingSafeEqual(macOf(proofKey, message.subarray(0, PROOF_AT)), message.subarray(PROOF_AT, TAG_AT))) return { ok: false, reason: 'proof' };
      return { ok: true, epoch, nodeId, publicKey };
    },
  };
}
