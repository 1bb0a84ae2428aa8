// Membership updates: the authority pushes each node what it should know (its peers, name,
// groups, key epoch) over the mesh to the node's sync port, whenever the registry changes and
// again every little while (UDP may lose one). A node takes an update only from the authority's
// mesh address (the diode: authority flows down), only signed with the pinned genesis key (the
// hub relays mesh traffic and must not be able to forge one), only for itself, and only newer
// than the last it took.
//
// An update of a full fleet (254 nodes: ~45 KB of JSON) does not fit one datagram once it is
// relayed, and a datagram larger than the underlay's MTU is fragmented and lost more often. So an
// update travels as numbered parts of at most PART_BYTES each, every part signed on its own (a
// part is checked before it takes any memory), and is applied only whole: when every part of the
// same version (seq) has arrived. Part layout (docs/protocol.md, "Membership update parts"):
//
//   0     1       2       6       8       10         14          14+n        78+n
//   +-----+-------+-------+-------+-------+----------+-----------+-----------+
//   | v=2 | node  | seq   | index | count | body     | chunk of  | Ed25519   |
//   |     | id    | u32   | u16   | u16   | length   | the body  | signature |
//   |     |       |       |       |       | u32      | (n bytes) | (64)      |
//   +-----+-------+-------+-------+-------+----------+-----------+-----------+
//
// signature = Ed25519(genesis key, "ppn/sync/v2\n" ‖ bytes 0 .. 14+n); body = the membership's
// JSON (UTF-8); every chunk but the last is PART_BODY_BYTES long. Big-endian integers.
import { membershipSchema, type Membership } from '../membership/membership.js';
import { checkSchema, formatProblems } from '../runtime/schema-check.js';
import { SIGNATURE_LENGTH, type GenesisKey, type GenesisSignatureCheck } from './signing-key.js';

const LABEL = Buffer.from('ppn/sync/v2\n');
export const SYNC_VERSION = 2;
export const PART_HEADER_BYTES = 14;
/**
 * A part's datagram is at most 1,178 bytes: relayed by the hub (two WireGuard wraps, the relay
 * frame, two inner IPv4/UDP headers) it is still 1,302 bytes, under the 1,420-byte tunnel MTU.
 */
export const PART_BODY_BYTES = 1_100;
export const PART_BYTES = PART_HEADER_BYTES + PART_BODY_BYTES + SIGNATURE_LENGTH;
/** 128 parts, 140 KB: three times a full /24's membership with the longest names allowed. */
export const MAX_PARTS = 128;
export const MAX_BODY_BYTES = MAX_PARTS * PART_BODY_BYTES;
/** An assembly still missing parts this long after its first part is dropped (two re-pushes at the default 15 s). */
export const DEFAULT_ASSEMBLY_MS = 30_000;

export interface MembershipUpdate {
  seq: number;
  nodeId: number;
  membership: Membership;
}

/** Signs an update as its parts, in order; throws if the membership is larger than MAX_BODY_BYTES. */
export function encodeUpdate(key: GenesisKey, update: MembershipUpdate): Buffer[] {
  const body = Buffer.from(JSON.stringify(update.membership));
  if (body.length > MAX_BODY_BYTES) throw new RangeError(`membership update of ${body.length} bytes: at most ${MAX_BODY_BYTES} (${MAX_PARTS} parts)`);
  const count = Math.max(1, Math.ceil(body.length / PART_BODY_BYTES));
  const parts: Buffer[] = [];
  for (let index = 0; index < count; index++) {
    const chunk = body.subarray(index * PART_BODY_BYTES, (index + 1) * PART_BODY_BYTES);
    const part = Buffer.allocUnsafe(PART_HEADER_BYTES + chunk.length + SIGNATURE_LENGTH);
    part[0] = SYNC_VERSION;
    part[1] = update.nodeId;
    part.writeUInt32BE(update.seq, 2);
    part.writeUInt16BE(index, 6);
    part.writeUInt16BE(count, 8);
    part.writeUInt32BE(body.length, 10);
    chunk.copy(part, PART_HEADER_BYTES);
    const signed = part.subarray(0, PART_HEADER_BYTES + chunk.length);
    key.sign(Buffer.concat([LABEL, signed])).copy(part, signed.length);
    parts.push(part);
  }
  return parts;
}

export interface PartHeader {
  nodeId: number;
  seq: number;
  index: number;
  count: number;
  bodyLength: number;
}

/** The header of a part and its chunk, or what is wrong with its shape (before any signature check). */
export function parsePart(datagram: Uint8Array): { ok: true; header: PartHeader; chunk: Buffer; signed: Buffer; signature: Buffer } | { ok: false; detail: string } {
  const d = Buffer.from(datagram.buffer, datagram.byteOffset, datagram.byteLength);
  if (d.length < PART_HEADER_BYTES + 1 + SIGNATURE_LENGTH) return { ok: false, detail: `part of ${d.length} bytes: at least ${PART_HEADER_BYTES + 1 + SIGNATURE_LENGTH}` };
  if (d[0] !== SYNC_VERSION) return { ok: false, detail: `version ${d[0]}: only ${SYNC_VERSION}${d[0] === 0x7b ? ' (a version 1 JSON update?)' : ''}` };
  if (d.length > PART_BYTES) return { ok: false, detail: `part of ${d.length} bytes: at most ${PART_BYTES}` };
  const header = { nodeId: d[1], seq: d.readUInt32BE(2), index: d.readUInt16BE(6), count: d.readUInt16BE(8), bodyLength: d.readUInt32BE(10) };
  const { seq, index, count, bodyLength } = header;
  if (seq < 1) return { ok: false, detail: 'seq 0: updates start at 1' };
  if (bodyLength < 1 || bodyLength > MAX_BODY_BYTES) return { ok: false, detail: `body length ${bodyLength}: 1 to ${MAX_BODY_BYTES}` };
  const expectedCount = Math.ceil(bodyLength / PART_BODY_BYTES);
  if (count !== expectedCount) return { ok: false, detail: `count ${count}: a body of ${bodyLength} bytes has ${expectedCount} parts` };
  if (index >= count) return { ok: false, detail: `index ${index}: the update has ${count} parts (0 to ${count - 1})` };
  const chunkLength = d.length - PART_HEADER_BYTES - SIGNATURE_LENGTH;
  const expectedChunk = index < count - 1 ? PART_BODY_BYTES : bodyLength - (count - 1) * PART_BODY_BYTES;
  if (chunkLength !== expectedChunk) return { ok: false, detail: `part ${index} of ${count} carries ${chunkLength} body bytes: ${expectedChunk} expected` };
  const signedEnd = PART_HEADER_BYTES + chunkLength;
  return { ok: true, header, chunk: d.subarray(PART_HEADER_BYTES, signedEnd), signed: d.subarray(0, signedEnd), signature: d.subarray(signedEnd) };
}

export const SYNC_REJECTS = ['malformed', 'forged', 'previous-key-ended', 'not-for-this-node', 'old'] as const;
export type SyncReject = (typeof SYNC_REJECTS)[number];
/**
 * Not rejections: 'current' (a part of the update the node already has: the periodic re-push),
 * 'partial' (a part kept until its siblings arrive), 'duplicate' (a part already kept).
 */
export type SyncProgress = 'current' | 'partial' | 'duplicate';

export type SyncResult =
  | { ok: true; update: MembershipUpdate }
  | { ok: false; reason: SyncReject | SyncProgress; detail?: string };

export interface UpdateAssemblerOptions {
  /** The pinned genesis key(s): genesisCheck(key), or pinnedGenesisCheck for a node that follows hand-overs. */
  check: GenesisSignatureCheck;
  nodeId: number;
  lastSeq: number;
  assemblyMs?: number;
  now?: () => number;
  /** Told when an unfinished assembly is let go: a newer version began ('superseded'), or it took too long ('expired'). */
  onDiscard?: (why: 'superseded' | 'expired', seq: number, missing: number) => void;
}

/**
 * Node side: checks each part against the pinned genesis key(s), this node's id and the last seq
 * taken, keeps the parts of the newest version only (at most MAX_BODY_BYTES held, for at most
 * `assemblyMs`), and returns the update once the last of its parts arrives.
 */
export function createUpdateAssembler(options: UpdateAssemblerOptions) {
  const assemblyMs = options.assemblyMs ?? DEFAULT_ASSEMBLY_MS;
  const now = options.now ?? Date.now;
  let last = options.lastSeq;
  let open: { seq: number; startedAt: number; chunks: (Buffer | undefined)[]; missing: number; bodyLength: number } | undefined;

  const discard = (why: 'superseded' | 'expired') => {
    if (open) options.onDiscard?.(why, open.seq, open.missing);
    open = undefined;
  };

  return {
    take(datagram: Uint8Array): SyncResult {
      const parsed = parsePart(datagram);
      if (!parsed.ok) return { ok: false, reason: 'malformed', detail: parsed.detail };
      const { header } = parsed;
      if (open && now() - open.startedAt > assemblyMs) discard('expired');
      // The sender's mesh address is the authority's (checked by the caller, authenticated by
      // WireGuard), so a part of a version already taken is dropped before its signature is
      // checked: the re-push of a whole fleet's updates costs the nodes no signature work.
      if (header.seq === last) return { ok: false, reason: 'current' };
      if (header.seq < last || (open && header.seq < open.seq)) return { ok: false, reason: 'old', detail: `seq ${header.seq}: ${open && header.seq > last ? `version ${open.seq} is being assembled` : `version ${last} is applied`}` };
      const signature = options.check(Buffer.concat([LABEL, parsed.signed]), parsed.signature);
      if (!signature.ok) return { ok: false, reason: signature.reason, ...(signature.detail && { detail: signature.detail }) };
      if (header.nodeId !== options.nodeId) return { ok: false, reason: 'not-for-this-node', detail: `for node ${header.nodeId}` };
      // A newer version, or the same seq signed with another length (the authority lost its
      // state and re-made that version): what was held cannot complete it.
      if (open && (header.seq > open.seq || header.bodyLength !== open.bodyLength)) discard('superseded');
      open ??= { seq: header.seq, startedAt: now(), chunks: new Array(header.count), missing: header.count, bodyLength: header.bodyLength };
      if (open.chunks[header.index]) return { ok: false, reason: 'duplicate' };
      open.chunks[header.index] = Buffer.from(parsed.chunk);
      if (--open.missing > 0) return { ok: false, reason: 'partial' };
      const body = Buffer.concat(open.chunks as Buffer[]);
      const seq = open.seq;
      open = undefined;
      let membership: Membership;
      try {
        membership = JSON.parse(body.toString('utf8'));
      } catch {
        return { ok: false, reason: 'malformed', detail: `version ${seq}: the body is not JSON` };
      }
      const problems = checkSchema(membershipSchema, membership);
      if (problems.length) return { ok: false, reason: 'malformed', detail: `version ${seq}: ${formatProblems(problems)}` };
      if (membership.nodeId !== options.nodeId) return { ok: false, reason: 'not-for-this-node', detail: `membership of node ${membership.nodeId}` };
      last = seq;
      return { ok: true, update: { seq, nodeId: options.nodeId, membership } };
    },
    /** What is held now: the version being assembled and its missing parts. */
    status: () => ({ lastSeq: last, ...(open && { assembling: { seq: open.seq, missing: open.missing, of: open.chunks.length } }) }),
  };
}
