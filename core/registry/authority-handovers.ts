// The admin's record of authority key hand-overs (core/genesis/handover.ts, authority-keys.ts),
// in its database beside the registry: each hand-over as every node receives it (every one
// audited as authority.handover), and for a command-key hand-over the switch, when the admin
// moved every node to its next epoch under the new key, with the epoch each one left. The CLI
// writes it, the running admin (another process) reads it: its sync pusher sends the hand-overs,
// its signer and telemetry port take each (node, epoch)'s secret from it (authority-command-keys.ts).
import { join } from 'node:path';
import type { Registry } from './registry.js';
import { writeTransaction } from '../storage/durable-db.js';

export const COMMAND_KEY_FILE = 'command.key';
export const RETIRED_DIR = 'retired';

export interface HandoverRecord {
  number: number;
  /** The signed hand-over, as every node receives it. */
  message: Buffer;
  issuedAt: number;
  /** Wall-clock ms: until then the replaced keys are kept and still accepted. */
  overlapUntil: number;
  /** The new public keys (base64), where they changed. */
  genesisKey?: string;
  commandPublicKey?: string;
  /** The replaced keys' files are deleted (the overlap is over). */
  retired: boolean;
  /** A new command key: when the admin moves every node to its next epoch under it (switchedAt: done). */
  switchAt: number;
  switchedAt?: number;
}

export interface HandoverLog {
  all(): HandoverRecord[];
  latest(): HandoverRecord | undefined;
  /** The hand-overs whose overlap has not ended at `now`, oldest first: the ones the nodes are sent. */
  inOverlap(now: number): HandoverRecord[];
  record(h: Omit<HandoverRecord, 'retired' | 'switchedAt'>, actor: string): void;
  markRetired(number: number): void;
  /** The latest hand-over of a command key. */
  latestCommand(): HandoverRecord | undefined;
  /** Where the switch of hand-over `number` moved node `nodeId` from (the epoch still on the replaced key). */
  leftEpoch(number: number, nodeId: number): number | undefined;
  /** Records the switch: each node's epoch left, in the caller's transaction with the registry's moves. */
  recordSwitch(number: number, moves: { nodeId: number; from: number }[], at: number): void;
}

interface Row { number: number; message: Buffer; issued_at: number; overlap_until: number; genesis_key: string | null; command_key: string | null; retired: number; switch_at: number; switched_at: number | null }
const fromRow = (r: Row): HandoverRecord => ({
  number: r.number, message: r.message, issuedAt: r.issued_at, overlapUntil: r.overlap_until, switchAt: r.switch_at, ...(r.switched_at !== null && { switchedAt: r.switched_at }),
  ...(r.genesis_key && { genesisKey: r.genesis_key }), ...(r.command_key && { commandPublicKey: r.command_key }), retired: !!r.retired,
});

export function openHandoverLog(registry: Registry): HandoverLog {
  const { db } = registry;
  db.exec(`CREATE TABLE IF NOT EXISTS authority_handovers (
    number INTEGER PRIMARY KEY, message BLOB NOT NULL, issued_at INTEGER NOT NULL, overlap_until INTEGER NOT NULL,
    genesis_key TEXT, command_key TEXT, retired INTEGER NOT NULL DEFAULT 0, switch_at INTEGER NOT NULL, switched_at INTEGER);
    CREATE TABLE IF NOT EXISTS authority_epoch_switches (
    handover INTEGER NOT NULL, node_id INTEGER NOT NULL, left_epoch INTEGER NOT NULL, PRIMARY KEY (handover, node_id))`);
  const all = db.prepare<[], Row>('SELECT * FROM authority_handovers ORDER BY number');
  const latest = db.prepare<[], Row>('SELECT * FROM authority_handovers ORDER BY number DESC LIMIT 1');
  const open = db.prepare<[number], Row>('SELECT * FROM authority_handovers WHERE overlap_until > ? ORDER BY number');
  const insert = db.prepare('INSERT INTO authority_handovers (number, message, issued_at, overlap_until, genesis_key, command_key, switch_at) VALUES (?, ?, ?, ?, ?, ?, ?)');
  const latestCommand = db.prepare<[], Row>('SELECT * FROM authority_handovers WHERE command_key IS NOT NULL ORDER BY number DESC LIMIT 1');
  const left = db.prepare<[number, number], { left_epoch: number }>('SELECT left_epoch FROM authority_epoch_switches WHERE handover = ? AND node_id = ?');
  const insertSwitch = db.prepare('INSERT OR REPLACE INTO authority_epoch_switches (handover, node_id, left_epoch) VALUES (?, ?, ?)');
  const switched = db.prepare('UPDATE authority_handovers SET switched_at = ? WHERE number = ?');
  const retire = db.prepare('UPDATE authority_handovers SET retired = 1 WHERE number = ?');
  return {
    all: () => all.all().map(fromRow),
    latest: () => {
      const r = latest.get();
      return r && fromRow(r);
    },
    inOverlap: (now) => open.all(now).map(fromRow),
    record: writeTransaction(db, (h: Omit<HandoverRecord, 'retired' | 'switchedAt'>, actor: string) => {
      insert.run(h.number, h.message, h.issuedAt, h.overlapUntil, h.genesisKey ?? null, h.commandPublicKey ?? null, h.switchAt);
      registry.audit(actor, 'authority.handover', {
        number: h.number, genesisKey: h.genesisKey ?? null, commandPublicKey: h.commandPublicKey ?? null,
        issuedAt: new Date(h.issuedAt).toISOString(), overlapUntil: new Date(h.overlapUntil).toISOString(),
      });
    }),
    markRetired: (number) => void retire.run(number),
    latestCommand: () => {
      const r = latestCommand.get();
      return r && fromRow(r);
    },
    leftEpoch: (number, nodeId) => left.get(number, nodeId)?.left_epoch,
    recordSwitch(number, moves, at) {
      for (const m of moves) insertSwitch.run(number, m.nodeId, m.from);
      switched.run(at, number);
    },
  };
}

/** Where the key files a hand-over replaced are kept while its overlap lasts: retired/command.N.key. */
export const retiredKeyFile = (name: string, number: number) => join(RETIRED_DIR, name.replace(/\.key$/, `.${number}.key`));
