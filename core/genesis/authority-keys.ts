// The admin's side of an authority key hand-over (handover.ts): making the new key(s), signing
// the hand-over, recording it, and what becomes of the replaced keys. The hand-overs live in the
// admin's database (authority_handovers, beside the registry; every one audited as
// authority.handover), so the running admin, which pushes them to every node on the sync port,
// sees one the CLI made in another process. Key files, in the admin's instance directory:
//   genesis.key, command.key          the current keys (0600), replaced by the new ones at once
//   retired/genesis.N.key, command.N.key
//                                     the keys hand-over N replaced, kept (0600, folder 0700)
//                                     while its overlap lasts: the old command key still checks
//                                     the acks of commands signed before; then deleted, since a
//                                     key no node accepts any more can only do harm if it leaks
//                                     (its public half stays in the hand-over and the audit log).
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatKey, generateSecret, publicKeyOf } from '../keys/index.js';
import { loadSecret } from '../membership/instance-files.js';
import type { Registry } from '../registry/registry.js';
import { writeTransaction } from '../storage/durable-db.js';
import { encodeHandover } from './handover.js';
import { GENESIS_KEY_FILE, genesisKeyFromSeed, loadGenesisKey, type GenesisKey } from './signing-key.js';

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

/**
 * How long after a command-key hand-over the admin keeps signing under the old key (at most half
 * the overlap): time for every node to take the hand-over (pushed at once, re-pushed with every
 * membership re-push) and move itself to its next epoch under the new key before the first
 * command signed there arrives.
 */
export const HANDOVER_DELIVERY_MS = 30_000;

export const retiredKeyFile = (name: string, number: number) => join(RETIRED_DIR, name.replace(/\.key$/, `.${number}.key`));

export interface RotateOptions {
  genesis: boolean;
  command: boolean;
  overlapSeconds: number;
  actor: string;
  now?: () => number;
}

/**
 * Makes the new key(s), signs the hand-over under the current genesis key (the new one
 * counter-signs), puts the new keys in place of the old, which move to retired/, and records
 * it; if it cannot be recorded, the old keys go back. Nothing secret is returned or printed.
 */
export function rotateAuthorityKeys(instanceDir: string, registry: Registry, o: RotateOptions): HandoverRecord {
  if (!o.genesis && !o.command) throw new RangeError('rotate the genesis key, the command key or both');
  const log = openHandoverLog(registry);
  const now = (o.now ?? Date.now)();
  const number = (log.latest()?.number ?? 0) + 1;
  const current = loadGenesisKey(instanceDir, false);
  loadSecret(instanceDir, COMMAND_KEY_FILE, false); // it must exist: the admin signs with it
  const newGenesisSeed = o.genesis ? randomBytes(32) : undefined;
  const next = newGenesisSeed && genesisKeyFromSeed(newGenesisSeed);
  const newCommandSecret = o.command ? generateSecret() : undefined;
  const newCommandPublic = newCommandSecret && publicKeyOf(newCommandSecret);
  const message = encodeHandover({ number, issuedAt: now, overlapSeconds: o.overlapSeconds, newGenesisKey: next?.publicKey, newCommandKey: newCommandPublic }, current, next);
  const replaced: [string, Buffer][] = [...(newGenesisSeed ? [[GENESIS_KEY_FILE, newGenesisSeed] as [string, Buffer]] : []), ...(newCommandSecret ? [[COMMAND_KEY_FILE, newCommandSecret] as [string, Buffer]] : [])];
  const staged = (name: string) => join(instanceDir, `${name}.next`);
  for (const [name, secret] of replaced) writeFileSync(staged(name), `${formatKey(secret)}\n`, { mode: 0o600, flag: 'wx' });
  const record: Omit<HandoverRecord, 'retired' | 'switchedAt'> = {
    number, message, issuedAt: now, overlapUntil: now + o.overlapSeconds * 1000, switchAt: now + Math.min((o.overlapSeconds * 1000) / 2, HANDOVER_DELIVERY_MS),
    ...(next && { genesisKey: next.publicText }), ...(newCommandPublic && { commandPublicKey: formatKey(newCommandPublic) }),
  };
  // The keys change places before the hand-over is recorded: the running admin reads the new
  // genesis.key when it sees the record, so it must find the new key there by then.
  mkdirSync(join(instanceDir, RETIRED_DIR), { recursive: true, mode: 0o700 });
  const swap = (undo: boolean) => {
    for (const [name] of replaced) {
      const [current, retired] = [join(instanceDir, name), join(instanceDir, retiredKeyFile(name, number))];
      if (undo) [renameSync(current, staged(name)), renameSync(retired, current)];
      else [renameSync(current, retired), renameSync(staged(name), current)];
    }
  };
  swap(false);
  try {
    log.record(record, o.actor);
  } catch (err) {
    swap(true);
    for (const [name] of replaced) rmSync(staged(name), { force: true });
    throw err;
  }
  return { ...record, retired: false };
}

/** The command secret hand-over `number` replaced, while it is kept (its overlap), else undefined. */
export function loadRetiredCommandSecret(instanceDir: string, number: number): Buffer | undefined {
  const file = retiredKeyFile(COMMAND_KEY_FILE, number);
  return existsSync(join(instanceDir, file)) ? loadSecret(instanceDir, file, false) : undefined;
}

/** Deletes the replaced keys of every hand-over whose overlap has ended; returns their numbers. */
export function retireEndedKeys(instanceDir: string, log: HandoverLog, now: number): number[] {
  const done: number[] = [];
  for (const h of log.all()) {
    if (h.retired || h.overlapUntil > now) continue;
    for (const name of [GENESIS_KEY_FILE, COMMAND_KEY_FILE]) rmSync(join(instanceDir, retiredKeyFile(name, h.number)), { force: true });
    log.markRetired(h.number);
    done.push(h.number);
  }
  return done;
}

/**
 * The admin's genesis key as its running services use it: the current genesis.key, read again
 * whenever a newer hand-over is recorded (by the CLI, in another process), so beacons and
 * membership updates are signed with the new key from the hand-over on.
 */
export function liveGenesisKey(instanceDir: string, log: HandoverLog): GenesisKey {
  let number = log.latest()?.number ?? 0;
  let key = loadGenesisKey(instanceDir, false);
  const current = () => {
    const latest = log.latest()?.number ?? 0;
    if (latest !== number) [number, key] = [latest, loadGenesisKey(instanceDir, false)];
    return key;
  };
  return {
    get publicKey() {
      return current().publicKey;
    },
    get publicText() {
      return current().publicText;
    },
    sign: (message) => current().sign(message),
  };
}
