// Sync sideways (docs/diode.md): a named record one node publishes to the peers it is paired
// with (sync-publish) and they receive (sync-receive), one datagram each on the peer sync port.
// The mesh authenticates the sender (WireGuard: a datagram from a peer's address was sealed with
// that peer's key, also when the hub relays it, which sees ciphertext only); the record itself is
// plain JSON with a sequence number, so a receiver keeps only what is newer than it has.
import { NAME_PATTERN } from '../fleet/names.js';

/** Envelope kind 'record' (sync-receive's output; sync-publish takes any envelope). */
export interface SyncRecord {
  /** The peer it came from, by its membership name. */
  peer: string;
  name: string;
  /** Grows with every record the publisher sends (it starts at its start time in ms). */
  seq: number;
  data: unknown;
}

/** One record must fit one datagram on the mesh without fragmenting (ppn0's MTU is 1420). */
export const SYNC_RECORD_MAX_BYTES = 1200;
const RECORD_VERSION = 1;
const NAME = new RegExp(NAME_PATTERN);

export type SyncRecordProblem = 'not-json' | 'too-large' | 'malformed';

export function encodeSyncRecord(name: string, seq: number, data: unknown): Buffer | SyncRecordProblem {
  if (!NAME.test(name)) return 'malformed';
  let text: string;
  try {
    text = JSON.stringify({ v: RECORD_VERSION, name, seq, data });
  } catch {
    return 'not-json';
  }
  if (text === undefined || data === undefined) return 'not-json';
  const bytes = Buffer.from(text, 'utf8');
  return bytes.length > SYNC_RECORD_MAX_BYTES ? 'too-large' : bytes;
}

export function decodeSyncRecord(bytes: Uint8Array): Omit<SyncRecord, 'peer'> | SyncRecordProblem {
  if (bytes.length > SYNC_RECORD_MAX_BYTES) return 'too-large';
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return 'not-json';
  }
  const r = parsed as Record<string, unknown>;
  if (typeof r !== 'object' || r === null || Array.isArray(r) || Object.keys(r).length !== 4) return 'malformed';
  if (r.v !== RECORD_VERSION || typeof r.name !== 'string' || !NAME.test(r.name) || !Number.isSafeInteger(r.seq) || (r.seq as number) < 0 || !('data' in r)) return 'malformed';
  return { name: r.name, seq: r.seq as number, data: r.data };
}
