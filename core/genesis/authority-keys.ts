// The admin's side of an authority key hand-over (handover.ts): making the new key(s), signing
// the hand-over, recording it (core/registry/authority-handovers.ts: the admin's database, audited,
// so the running admin, which pushes them to every node on the sync port, sees one the CLI made in
// another process), and what becomes of the replaced keys. Key files, in the admin's instance directory:
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
import { COMMAND_KEY_FILE, openHandoverLog, RETIRED_DIR, retiredKeyFile, type HandoverLog, type HandoverRecord } from '../registry/authority-handovers.js';
import type { Registry } from '../registry/registry.js';
import { encodeHandover } from './handover.js';

import { GENESIS_KEY_FILE, genesisKeyFromSeed, loadGenesisKey, type GenesisKey } from './signing-key.js';

/**
 * How long after a command-key hand-over the admin keeps signing under the old key (at most half
 * the overlap): time for every node to take the hand-over (pushed at once, re-pushed with every
 * membership re-push) and move itself to its next epoch under the new key before the first
 * command signed there arrives.
 */
export const HANDOVER_DELIVERY_MS = 30_000;

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
  // A rotation that died between putting its keys in place and recording the hand-over left the
  // replaced keys in retired/ under this number: the nodes still pin those.
  for (const name of [GENESIS_KEY_FILE, COMMAND_KEY_FILE]) {
    const left = retiredKeyFile(name, number);
    if (existsSync(join(instanceDir, left))) {
      throw new Error(`${left} exists but hand-over ${number} was never recorded (a rotation died after putting its new keys in place): move it back over ${name}, the key the nodes pin, then rotate again`);
    }
  }
  const current = loadGenesisKey(instanceDir, false);
  loadSecret(instanceDir, COMMAND_KEY_FILE, false); // it must exist: the admin signs with it
  const newGenesisSeed = o.genesis ? randomBytes(32) : undefined;
  const next = newGenesisSeed && genesisKeyFromSeed(newGenesisSeed);
  const newCommandSecret = o.command ? generateSecret() : undefined;
  const newCommandPublic = newCommandSecret && publicKeyOf(newCommandSecret);
  const message = encodeHandover({ number, issuedAt: now, overlapSeconds: o.overlapSeconds, newGenesisKey: next?.publicKey, newCommandKey: newCommandPublic }, current, next);
  const replaced: [string, Buffer][] = [...(newGenesisSeed ? [[GENESIS_KEY_FILE, newGenesisSeed] as [string, Buffer]] : []), ...(newCommandSecret ? [[COMMAND_KEY_FILE, newCommandSecret] as [string, Buffer]] : [])];
  const staged = (name: string) => join(instanceDir, `${name}.next`);
  for (const [name, secret] of replaced) {
    rmSync(staged(name), { force: true }); // left by a rotation that died before it was recorded: never used
    writeFileSync(staged(name), `${formatKey(secret)}\n`, { mode: 0o600, flag: 'wx' });
  }
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
