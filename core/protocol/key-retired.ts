// The "key retired" report: a node tells the authority that its command key for an epoch hit the
// failed-tag cap and is refused for good, so the authority can move it to a new epoch. Sent on
// the telemetry channel beside acks, authenticated with the node's telemetry key of the retired
// epoch (salt "ppn/telemetry/v1"), which whoever forged the command tags does not have: only the
// node itself can ask for a new epoch. Layout (network byte order), described in docs/protocol.md:
//   0   1  type 0xC2: bits 7–6 = 11 (telemetry); bits 5–0 = 2 (key-retired report v1)
//   1   1  the retired key epoch, 0..63
//   2   1  node id, 1..254
//   3   4  failed tag checks counted in that epoch (saturating at 2^32 − 1)
//   7  16  first 16 bytes of HMAC-SHA256(K_telemetry(epoch), bytes 0..6)
import { createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';
import { authorityPairsOf, createAuthorityKeyCache, nodeKeysOf, type AuthorityKeysOption, type NodeKeysOption } from './epoch-keys.js';
import { checkEpoch, checkNodeId } from './key-derivation.js';

export const KEY_RETIRED_TYPE = 0xc2;
export const KEY_RETIRED_LENGTH = 23;
const SIGNED = 7;

export interface KeyRetiredReport {
  epoch: number;
  nodeId: number;
  failedTags: number;
}

function tagOf(key: KeyObject, signed: Uint8Array): Buffer {
  return createHmac('sha256', key).update(signed).digest().subarray(0, KEY_RETIRED_LENGTH - SIGNED);
}

export function encodeKeyRetired(report: KeyRetiredReport, telemetryKey: KeyObject): Buffer {
  checkEpoch(report.epoch);
  checkNodeId(report.nodeId);
  const out = Buffer.alloc(KEY_RETIRED_LENGTH);
  out[0] = KEY_RETIRED_TYPE;
  out[1] = report.epoch;
  out[2] = report.nodeId;
  out.writeUInt32BE(Math.min(0xffffffff, Math.max(0, Math.floor(report.failedTags))), 3);
  tagOf(telemetryKey, out.subarray(0, SIGNED)).copy(out, SIGNED);
  return out;
}

/** Node side: encodes reports for any epoch with this node's telemetry keys. */
export function createKeyRetiredSigner(options: { nodeId: number } & NodeKeysOption) {
  const { nodeId } = options;
  checkNodeId(nodeId);
  const keys = nodeKeysOf(options);
  return {
    encode: (epoch: number, failedTags: number) => encodeKeyRetired({ epoch, nodeId, failedTags }, keys.hmacKey('telemetry', epoch, nodeId)),
  };
}

export type KeyRetiredRejectReason = 'length' | 'type' | 'epoch' | 'unknown-node' | 'tag';

export type KeyRetiredVerifyResult = ({ ok: true } & KeyRetiredReport) | { ok: false; reason: KeyRetiredRejectReason };

/**
 * Authority side. No replay window: a report only ever moves a node off the epoch it names, and
 * the authority acts on it only while that epoch is the node's current one, so a replayed report
 * changes nothing (and a node's retired key stays retired on the node, so it is true anyway).
 */
export function createKeyRetiredVerifier(options: AuthorityKeysOption) {
  const pairs = authorityPairsOf(options);
  const cache = options.cache ?? createAuthorityKeyCache();
  return {
    verify(datagram: Uint8Array): KeyRetiredVerifyResult {
      if (datagram.length !== KEY_RETIRED_LENGTH) return { ok: false, reason: 'length' };
      const report = Buffer.from(datagram.buffer, datagram.byteOffset, datagram.length);
      if (report[0] !== KEY_RETIRED_TYPE) return { ok: false, reason: 'type' };
      const epoch = report[1];
      if (epoch > 63) return { ok: false, reason: 'epoch' };
      const nodeId = report[2];
      const pair = nodeId >= 1 && nodeId <= 254 ? pairs(nodeId, epoch) : undefined;
      if (pair === undefined) return { ok: false, reason: 'unknown-node' };
      const expected = tagOf(cache.hmacKey('telemetry', nodeId, epoch, pair), report.subarray(0, SIGNED));
      if (!timingSafeEqual(expected, report.subarray(SIGNED))) return { ok: false, reason: 'tag' };
      return { ok: true, epoch, nodeId, failedTags: report.readUInt32BE(3) };
    },
  };
}
