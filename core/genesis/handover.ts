// The authority's key hand-over: how the authority tells every node that its genesis key and/or
// its command key changed, signed under the genesis key the nodes pin now (and, when the genesis
// key changes, counter-signed by the new one, proving the authority holds it). A node takes it
// only from that pinned key, only newer than the last one it took, and then pins the new key(s),
// keeping the replaced ones for the hand-over's overlap. Layout (docs/protocol.md, "Authority
// key hand-over"), big-endian:
//
//   0     1    2      3        7          15        19        51          83          115       179
//   +-----+----+------+--------+----------+---------+---------+-----------+-----------+---------+-----------+
//   | 'H' | v=1| what | number | issued   | overlap | from    | new       | new       | sig by  | sig by    |
//   | 0x48|    | bits | u32    | at u64   | seconds | genesis | genesis   | command   | from    | new       |
//   |     |    |      |        | (ms)     | u32     | key     | key or 0s | key or 0s | key (64)| genesis   |
//   |     |    |      |        |          |         | (32)    | (32)      | (32)      |         | key (64)* |
//   +-----+----+------+--------+----------+---------+---------+-----------+-----------+---------+-----------+
//
// what: bit 0 the genesis key changes, bit 1 the command key changes (at least one, no other
// bit). sig by from key = Ed25519(from, "ppn/handover/v1\n" ‖ bytes 0..115); * present exactly
// when bit 0 is set: Ed25519(new genesis key, "ppn/handover/v1 new key\n" ‖ bytes 0..115).
// A hand-over is 179 bytes (command key only) or 243 bytes. It travels on the sync port beside
// the membership update parts (whose first byte is their version, 2), which the first byte 'H'
// tells apart.
import { KEY_LENGTH, formatKey } from '../keys/index.js';
import { SIGNATURE_LENGTH, signatureVerifier, type GenesisKey } from './signing-key.js';

export const HANDOVER_KIND = 0x48;
export const HANDOVER_VERSION = 1;
const LABEL = Buffer.from('ppn/handover/v1\n');
const NEW_KEY_LABEL = Buffer.from('ppn/handover/v1 new key\n');
export const HANDOVER_SIGNED_BYTES = 115;
export const HANDOVER_BYTES = HANDOVER_SIGNED_BYTES + SIGNATURE_LENGTH;
export const HANDOVER_WITH_GENESIS_BYTES = HANDOVER_BYTES + SIGNATURE_LENGTH;
const GENESIS_BIT = 1;
const COMMAND_BIT = 2;
/** The overlap fits the u32 of seconds; a year is far more than any rotation needs. */
export const MAX_OVERLAP_SECONDS = 366 * 24 * 3600;

export interface Handover {
  number: number;
  /** Authority time, ms: for people and the audit log; nodes count the overlap from when they take it. */
  issuedAt: number;
  overlapSeconds: number;
  /** The genesis key that signs it: the one the nodes pin until they take it (32 raw bytes). */
  from: Buffer;
  newGenesisKey?: Buffer;
  newCommandKey?: Buffer;
}

/** Signs a hand-over under `from`; `next` (the new genesis key) counter-signs it when the genesis key changes. */
export function encodeHandover(h: Omit<Handover, 'from'>, from: GenesisKey, next?: GenesisKey): Buffer {
  if (!h.newGenesisKey && !h.newCommandKey) throw new RangeError('a hand-over names a new genesis key, a new command key or both');
  if (!!h.newGenesisKey !== !!next || (next && !next.publicKey.equals(h.newGenesisKey!))) throw new RangeError('a new genesis key counter-signs its own hand-over');
  if (!Number.isInteger(h.number) || h.number < 1 || h.number > 0xffff_ffff) throw new RangeError(`hand-over number ${h.number}: 1 to 2^32-1`);
  if (!Number.isInteger(h.overlapSeconds) || h.overlapSeconds < 0 || h.overlapSeconds > MAX_OVERLAP_SECONDS) throw new RangeError(`overlap ${h.overlapSeconds} s: 0 to ${MAX_OVERLAP_SECONDS}`);
  const out = Buffer.alloc(next ? HANDOVER_WITH_GENESIS_BYTES : HANDOVER_BYTES);
  out[0] = HANDOVER_KIND;
  out[1] = HANDOVER_VERSION;
  out[2] = (h.newGenesisKey ? GENESIS_BIT : 0) | (h.newCommandKey ? COMMAND_BIT : 0);
  out.writeUInt32BE(h.number, 3);
  out.writeBigUInt64BE(BigInt(h.issuedAt), 7);
  out.writeUInt32BE(h.overlapSeconds, 15);
  from.publicKey.copy(out, 19);
  h.newGenesisKey?.copy(out, 51);
  h.newCommandKey?.copy(out, 83);
  const signed = out.subarray(0, HANDOVER_SIGNED_BYTES);
  from.sign(Buffer.concat([LABEL, signed])).copy(out, HANDOVER_SIGNED_BYTES);
  if (next) next.sign(Buffer.concat([NEW_KEY_LABEL, signed])).copy(out, HANDOVER_BYTES);
  return out;
}

export type ParsedHandover = { ok: true; handover: Handover; signed: Buffer; signature: Buffer; counterSignature?: Buffer } | { ok: false; detail: string };

/** The hand-over's fields, or what is wrong with its shape (no signature checked). */
export function parseHandover(datagram: Uint8Array): ParsedHandover {
  const d = Buffer.from(datagram.buffer, datagram.byteOffset, datagram.byteLength);
  if (d.length < HANDOVER_BYTES) return { ok: false, detail: `hand-over of ${d.length} bytes: ${HANDOVER_BYTES} or ${HANDOVER_WITH_GENESIS_BYTES}` };
  if (d[0] !== HANDOVER_KIND) return { ok: false, detail: `first byte 0x${d[0].toString(16)}: a hand-over starts 0x48` };
  if (d[1] !== HANDOVER_VERSION) return { ok: false, detail: `version ${d[1]}: only ${HANDOVER_VERSION}` };
  const what = d[2];
  if (what === 0 || what & ~(GENESIS_BIT | COMMAND_BIT)) return { ok: false, detail: `key bits 0x${what.toString(16)}: 1 (genesis), 2 (command) or 3 (both)` };
  const genesis = !!(what & GENESIS_BIT);
  const expected = genesis ? HANDOVER_WITH_GENESIS_BYTES : HANDOVER_BYTES;
  if (d.length !== expected) return { ok: false, detail: `hand-over of ${d.length} bytes: ${expected} for key bits ${what}` };
  const number = d.readUInt32BE(3);
  if (number < 1) return { ok: false, detail: 'number 0: hand-overs start at 1' };
  const overlapSeconds = d.readUInt32BE(15);
  if (overlapSeconds > MAX_OVERLAP_SECONDS) return { ok: false, detail: `overlap ${overlapSeconds} s: at most ${MAX_OVERLAP_SECONDS}` };
  const key = (at: number) => Buffer.from(d.subarray(at, at + KEY_LENGTH));
  const zero = (at: number) => d.subarray(at, at + KEY_LENGTH).every((b) => b === 0);
  if (!genesis && !zero(51)) return { ok: false, detail: 'a new genesis key without its key bit' };
  if (!(what & COMMAND_BIT) && !zero(83)) return { ok: false, detail: 'a new command key without its key bit' };
  return {
    ok: true,
    handover: {
      number,
      issuedAt: Number(d.readBigUInt64BE(7)),
      overlapSeconds,
      from: key(19),
      ...(genesis && { newGenesisKey: key(51) }),
      ...(what & COMMAND_BIT && { newCommandKey: key(83) }),
    },
    signed: d.subarray(0, HANDOVER_SIGNED_BYTES),
    signature: d.subarray(HANDOVER_SIGNED_BYTES, HANDOVER_BYTES),
    ...(genesis && { counterSignature: d.subarray(HANDOVER_BYTES) }),
  };
}

export const HANDOVER_REJECTS = ['malformed', 'forged', 'old', 'already-pinned'] as const;
export type HandoverReject = (typeof HANDOVER_REJECTS)[number];
/** 'current': the hand-over this node took last, again (the periodic re-push): not a rejection. */
export type HandoverResult =
  | { ok: true; handover: Handover }
  | { ok: false; reason: HandoverReject | 'current'; detail?: string };

/** What the node pins now, as the hand-over check needs it. */
export interface PinnedKeys {
  genesisKey: string;
  commandPublicKey: string;
  /** The number of the last hand-over taken; 0 when none. */
  handover: number;
}

/**
 * Checks a hand-over against what the node pins: its shape, its number (only newer than the
 * last taken), that the pinned genesis key signed it and the new genesis key counter-signed it,
 * and that it changes a key. Nothing is changed here; the caller pins what it returns.
 */
export function checkHandover(datagram: Uint8Array, pinned: PinnedKeys): HandoverResult {
  const parsed = parseHandover(datagram);
  if (!parsed.ok) return { ok: false, reason: 'malformed', detail: parsed.detail };
  const { handover } = parsed;
  if (handover.number === pinned.handover) return { ok: false, reason: 'current' };
  if (handover.number < pinned.handover) return { ok: false, reason: 'old', detail: `hand-over ${handover.number}: ${pinned.handover} is taken` };
  const from = formatKey(handover.from);
  if (from !== pinned.genesisKey) return { ok: false, reason: 'forged', detail: `signed as genesis key ${from}, not the pinned ${pinned.genesisKey}` };
  if (!signatureVerifier(handover.from)(Buffer.concat([LABEL, parsed.signed]), parsed.signature)) return { ok: false, reason: 'forged', detail: 'the pinned genesis key did not sign it' };
  if (handover.newGenesisKey && !signatureVerifier(handover.newGenesisKey)(Buffer.concat([NEW_KEY_LABEL, parsed.signed]), parsed.counterSignature!)) {
    return { ok: false, reason: 'forged', detail: 'the new genesis key did not counter-sign it' };
  }
  if (handover.newGenesisKey && formatKey(handover.newGenesisKey) === pinned.genesisKey) return { ok: false, reason: 'already-pinned', detail: 'its new genesis key is the one pinned' };
  if (handover.newCommandKey && formatKey(handover.newCommandKey) === pinned.commandPublicKey) return { ok: false, reason: 'already-pinned', detail: 'its new command key is the one pinned' };
  return { ok: true, handover };
}
