// The telemetry report (heartbeat): a node's facts, sent every few seconds to the authority's
// telemetry port beside acks, authenticated with the node's telemetry key (salt
// "ppn/telemetry/v1") like acks and key-retired reports. One datagram, at most 1,200 bytes.
// Layout (network byte order), described in docs/protocol.md:
//   0     1  type 0xC3: bits 7–6 = 11 (telemetry, never a command); bits 5–0 = 3 (report v1)
//   1     1  key epoch of the telemetry key, 0..63
//   2     1  node id, 1..254
//   3     8  S, the report's sequence: the sender's clock in ms, strictly increasing per node
//   11    2  L, length of the body, 0..1,171
//   13    L  body: the facts as UTF-8 JSON (report-facts.ts)
//   13+L 16  first 16 bytes of HMAC-SHA256(K_telemetry(epoch), bytes 0 .. 12+L)
// The verifier is stateless: freshness (S above the last S taken from that node, and not ahead
// of the authority's clock by more than the allowed skew) is judged where the last S is kept.
import { createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';
import { authorityPairsOf, createAuthorityKeyCache, nodeKeysOf, type AuthorityKeysOption, type NodeKeysOption } from './epoch-keys.js';
import { checkEpoch, checkNodeId } from './key-derivation.js';
import { fitFacts, readFacts, type ReportFacts } from './report-facts.js';

export const REPORT_TYPE = 0xc3;
export const REPORT_HEADER_LENGTH = 13;
export const REPORT_TAG_LENGTH = 16;
export const MAX_REPORT_LENGTH = 1200;
export const MAX_REPORT_BODY = MAX_REPORT_LENGTH - REPORT_HEADER_LENGTH - REPORT_TAG_LENGTH;

export interface Report {
  epoch: number;
  nodeId: number;
  /** The sequence S: the sender's clock in ms, strictly increasing. */
  seq: number;
  facts: ReportFacts;
}

function tagOf(key: KeyObject, signed: Uint8Array): Buffer {
  return createHmac('sha256', key).update(signed).digest().subarray(0, REPORT_TAG_LENGTH);
}

/** Encodes a report; its facts are cut to fit one datagram first (the facts sent are returned). */
export function encodeReport(report: Report, telemetryKey: KeyObject): { datagram: Buffer; facts: ReportFacts } {
  checkEpoch(report.epoch);
  checkNodeId(report.nodeId);
  if (!Number.isSafeInteger(report.seq) || report.seq < 1) throw new RangeError(`report sequence must be a positive safe integer, got ${report.seq}`);
  const { facts, json } = fitFacts(report.facts, MAX_REPORT_BODY);
  const out = Buffer.alloc(REPORT_HEADER_LENGTH + json.length + REPORT_TAG_LENGTH);
  out[0] = REPORT_TYPE;
  out[1] = report.epoch;
  out[2] = report.nodeId;
  out.writeBigUInt64BE(BigInt(report.seq), 3);
  out.writeUInt16BE(json.length, 11);
  json.copy(out, REPORT_HEADER_LENGTH);
  tagOf(telemetryKey, out.subarray(0, REPORT_HEADER_LENGTH + json.length)).copy(out, REPORT_HEADER_LENGTH + json.length);
  return { datagram: out, facts };
}

export interface ReportSigner {
  /** Encodes `facts` with the next sequence (the clock, or one above the last if it did not move on). */
  encode(epoch: number, facts: ReportFacts): { datagram: Buffer; seq: number; facts: ReportFacts };
}

/** Node side: one telemetry key per epoch, sequences strictly increasing. */
export function createReportSigner(options: { nodeId: number; clock?: () => number } & NodeKeysOption): ReportSigner {
  const { nodeId } = options;
  checkNodeId(nodeId);
  const clock = options.clock ?? Date.now;
  const keys = nodeKeysOf(options);
  let last = 0;
  return {
    encode(epoch, facts) {
      checkEpoch(epoch);
      const key = keys.hmacKey('telemetry', epoch, nodeId);
      const seq = (last = Math.max(Math.floor(clock()), last + 1));
      return { ...encodeReport({ epoch, nodeId, seq, facts }, key), seq };
    },
  };
}

export type ReportRejectReason =
  | 'length' // shorter than 29 or longer than 1,200 bytes, or L disagrees with the length
  | 'type' // byte 0 is not 0xC3
  | 'epoch' // not 0..63
  | 'unknown-node' // no active node with that id in the registry
  | 'tag'
  | 'sequence' // S is 0 or beyond 2^53 − 1
  | 'body' // the body is not UTF-8 JSON
  | 'facts'; // the JSON is not facts within the limits

export type ReportVerifyResult = ({ ok: true } & Report) | { ok: false; reason: ReportRejectReason; field?: string };

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Authority side: checks the tag before it reads a byte of the body. */
export function createReportVerifier(options: AuthorityKeysOption) {
  const pairs = authorityPairsOf(options);
  const cache = options.cache ?? createAuthorityKeyCache();
  return {
    verify(datagram: Uint8Array): ReportVerifyResult {
      if (datagram.length < REPORT_HEADER_LENGTH + REPORT_TAG_LENGTH || datagram.length > MAX_REPORT_LENGTH) return { ok: false, reason: 'length' };
      const report = Buffer.from(datagram.buffer, datagram.byteOffset, datagram.length);
      if (report[0] !== REPORT_TYPE) return { ok: false, reason: 'type' };
      const bodyLength = report.readUInt16BE(11);
      if (REPORT_HEADER_LENGTH + bodyLength + REPORT_TAG_LENGTH !== report.length) return { ok: false, reason: 'length' };
      const epoch = report[1];
      if (epoch > 63) return { ok: false, reason: 'epoch' };
      const nodeId = report[2];
      const pair = nodeId >= 1 && nodeId <= 254 ? pairs(nodeId, epoch) : undefined;
      if (pair === undefined) return { ok: false, reason: 'unknown-node' };
      const signedEnd = REPORT_HEADER_LENGTH + bodyLength;
      const expected = tagOf(cache.hmacKey('telemetry', nodeId, epoch, pair), report.subarray(0, signedEnd));
      if (!timingSafeEqual(expected, report.subarray(signedEnd))) return { ok: false, reason: 'tag' };
      const seq = report.readBigUInt64BE(3);
      if (seq === 0n || seq > BigInt(Number.MAX_SAFE_INTEGER)) return { ok: false, reason: 'sequence' };
      let body: unknown;
      try {
        body = JSON.parse(decoder.decode(report.subarray(REPORT_HEADER_LENGTH, signedEnd)));
      } catch {
        return { ok: false, reason: 'body' };
      }
      const read = readFacts(body);
      if (!read.ok) return { ok: false, reason: 'facts', field: read.field };
      return { ok: true, epoch, nodeId, seq: Number(seq), facts: read.facts };
    },
  };
}

export type ReportFreshness = 'fresh' | 'replayed' | 'old' | 'future';

/**
 * Whether a verified report is newer than the last one taken from its node (`lastSeq`): the same
 * S is a replay, a lower one an old report; S ahead of the authority's clock by more than
 * `maxSkewMs` is refused too, or one report from a wrong clock would shut out every later one.
 */
export function reportFreshness(seq: number, lastSeq: number | undefined, now: number, maxSkewMs: number): ReportFreshness {
  if (seq > now + maxSkewMs) return 'future';
  if (lastSeq === undefined || seq > lastSeq) return 'fresh';
  return seq === lastSeq ? 'replayed' : 'old';
}
