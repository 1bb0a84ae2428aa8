// Telemetry acknowledgement: a node's report on what it did with command C, sent on the
// telemetry channel and authenticated with the node's telemetry key (salt "ppn/telemetry/v1").
// Layout (network byte order), described in docs/protocol.md:
//   0     1  type 0xC1: bits 7–6 = 11 (never a command, 01, or a beacon, 10); bits 5–0 = 1 (ack v1)
//   1     1  key epoch of the acknowledged command, 0..63
//   2     1  node id, 1..254
//   3     1  status code
//   4     8  C, the full 64-bit counter acknowledged
//   12    1  L, length of the detail, 0..200
//   13    L  detail, UTF-8
//   13+L 16  first 16 bytes of HMAC-SHA256(K_telemetry, bytes 0 .. 12+L)
import { createHmac, type KeyObject } from 'node:crypto';
import { checkCounter } from './counter.js';
import { nodeKeysOf, type NodeKeysOption } from './epoch-keys.js';
import { checkEpoch, checkNodeId } from './key-derivation.js';

export const ACK_TYPE = 0xc1;
export const ACK_HEADER_LENGTH = 13;
export const ACK_TAG_LENGTH = 16;
export const MAX_ACK_DETAIL = 200;
export const MIN_ACK_LENGTH = ACK_HEADER_LENGTH + ACK_TAG_LENGTH;
export const MAX_ACK_LENGTH = MIN_ACK_LENGTH + MAX_ACK_DETAIL;

export const ACK_STATUSES = {
  executed: 1,
  failed: 2,
  'rejected-by-policy': 3,
  'unknown-intent': 4,
} as const;
export type AckStatus = keyof typeof ACK_STATUSES;
const STATUS_BY_CODE = new Map(Object.entries(ACK_STATUSES).map(([name, code]) => [code as number, name as AckStatus]));

export function ackStatusOf(code: number): AckStatus | undefined {
  return STATUS_BY_CODE.get(code);
}

export interface AckFields {
  epoch: number;
  nodeId: number;
  /** The counter of the command acknowledged. */
  counter: bigint;
  status: AckStatus;
  /** Free text for the operator; cut at a character boundary to fit 200 UTF-8 bytes. */
  detail?: string;
}

const encoder = new TextEncoder();

export function ackTag(key: KeyObject, signed: Uint8Array): Buffer {
  return createHmac('sha256', key).update(signed).digest().subarray(0, ACK_TAG_LENGTH);
}

export function encodeAck(fields: AckFields, key: KeyObject): Buffer {
  checkEpoch(fields.epoch);
  checkNodeId(fields.nodeId);
  checkCounter(fields.counter);
  const status = ACK_STATUSES[fields.status];
  if (status === undefined) throw new RangeError(`unknown ack status ${String(fields.status)}`);
  const scratch = Buffer.alloc(MAX_ACK_LENGTH);
  const { written } = encoder.encodeInto(fields.detail ?? '', scratch.subarray(ACK_HEADER_LENGTH, ACK_HEADER_LENGTH + MAX_ACK_DETAIL));
  const ack = scratch.subarray(0, ACK_HEADER_LENGTH + written + ACK_TAG_LENGTH);
  ack[0] = ACK_TYPE;
  ack[1] = fields.epoch;
  ack[2] = fields.nodeId;
  ack[3] = status;
  ack.writeBigUInt64BE(fields.counter, 4);
  ack[12] = written;
  ack.set(ackTag(key, ack.subarray(0, ACK_HEADER_LENGTH + written)), ACK_HEADER_LENGTH + written);
  return ack;
}

/** The node's epoch keys, or one pair for every epoch (acks use the command keys' pair secret, another salt). */
export type AckSignerOptions = { nodeId: number } & NodeKeysOption;

export interface AckSigner {
  encode(ack: Omit<AckFields, 'nodeId'>): Buffer;
}

/** Node side: encodes acks, each under the telemetry key of its command's epoch. */
export function createAckSigner(options: AckSignerOptions): AckSigner {
  const { nodeId } = options;
  checkNodeId(nodeId);
  const keys = nodeKeysOf(options);
  return {
    encode(ack) {
      checkEpoch(ack.epoch);
      return encodeAck({ ...ack, nodeId }, keys.hmacKey('telemetry', ack.epoch, nodeId));
    },
  };
}
