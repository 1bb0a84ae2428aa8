// The authority's command secret per (node, epoch) across a command-key hand-over. A new command
// key changes every node's derived keys, so it is an epoch move (core/protocol/epoch-keys.ts):
//   1. hand-over recorded (the CLI): the admin still signs under the old key; every node takes
//      the hand-over and moves itself from e to e + 1 under the new key, e kept on the old one
//      (core/genesis/handover.ts; core/node/services.ts takes it);
//   2. the switch, HANDOVER_DELIVERY_MS later (at most half the overlap; the running admin):
//      the registry moves every active node to its next epoch (audited) and records the epoch
//      each one left; from then on the admin signs under the new key and the membership updates
//      name it, which starts each node's overlap of e (its verifier's epochOverlapMs);
//   3. the overlap ends: the old key's file is deleted (core/genesis/authority-keys.ts), and acks of the
//      epochs left have no key any more.
// So: before the switch every epoch is on the old key but the one after a node's (where it moved
// itself: its heartbeats come signed there); after it the epoch a node left is on the
// old key and every other on the new one (also for nodes that joined after the hand-over).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatKey, parseKey, publicKeyOf } from '../keys/index.js';
import { nextEpoch } from '../protocol/key-epochs.js';
import { writeTransaction } from '../storage/durable-db.js';
import { COMMAND_KEY_FILE, openHandoverLog, retiredKeyFile, type HandoverLog } from './authority-handovers.js';
import type { Registry } from './registry.js';

/** A command secret file of the admin's instance directory (written 0600 by `ppn authority init` or a rotation); undefined when absent. */
function readSecretFile(instanceDir: string, file: string): Buffer | undefined {
  const path = join(instanceDir, file);
  return existsSync(path) ? parseKey(readFileSync(path, 'utf8'), path) : undefined;
}

export interface AuthorityCommandKeys {
  /** The secret (node, epoch) is signed and its acks checked with; undefined once that key is retired. */
  secretFor(nodeId: number, epoch: number): Buffer | undefined;
  /** The secret the admin signs new things with (joins, the membership's command key): the old one until the switch. */
  signing(): Buffer;
  signingPublic(): string;
  readonly log: HandoverLog;
}

/**
 * `startSecret`: the command secret the admin started with (command.key), the one until any
 * command hand-over; `authorityEpoch`: the epoch of a node the registry records none for (the
 * admin's own, from its membership).
 */
export function authorityCommandKeys(instanceDir: string, registry: Registry, startSecret: Buffer, authorityEpoch: () => number): AuthorityCommandKeys {
  const log = openHandoverLog(registry);
  // Read again only when a newer command hand-over is recorded (by the CLI, in another process).
  let cached: { number: number; current: Buffer; old?: Buffer } | undefined;
  const keysOf = (number: number) => {
    if (cached?.number !== number) {
      const current = number ? readSecretFile(instanceDir, COMMAND_KEY_FILE) : startSecret;
      if (!current) throw new Error(`${join(instanceDir, COMMAND_KEY_FILE)} is missing: the admin cannot sign`);
      cached = { number, current, ...(number && { old: readSecretFile(instanceDir, retiredKeyFile(COMMAND_KEY_FILE, number)) }) };
    }
    return cached;
  };
  const keys: AuthorityCommandKeys = {
    log,
    secretFor(nodeId, epoch) {
      const h = log.latestCommand();
      const { current, old } = keysOf(h?.number ?? 0);
      if (!h) return current;
      const kept = h.retired ? undefined : old;
      // Before the switch a node that took the hand-over already signs its heartbeats and reports
      // under its next epoch, on the new key.
      if (h.switchedAt === undefined) {
        const at = registry.node(nodeId)?.keyEpoch ?? authorityEpoch();
        return epoch === nextEpoch(at) ? current : kept ?? current;
      }
      return log.leftEpoch(h.number, nodeId) === epoch ? kept : current;
    },
    signing() {
      const h = log.latestCommand();
      const { current, old } = keysOf(h?.number ?? 0);
      return h && h.switchedAt === undefined && !h.retired && old ? old : current;
    },
    signingPublic: () => formatKey(publicKeyOf(keys.signing())),
  };
  return keys;
}

/** For stages, which see the registry service through the SDK's narrower type: the object is this module's Registry. */
export const stageCommandKeys = (instanceDir: string, registryService: object, startSecret: Buffer, authorityEpoch: () => number): AuthorityCommandKeys =>
  authorityCommandKeys(instanceDir, registryService as Registry, startSecret, authorityEpoch);

/**
 * The switch (step 2 above), once it is due: every active node but the authority moves to its
 * next epoch, in one transaction with the record of the epochs left. Returns the hand-over's
 * number when it switched now.
 */
export function switchIfDue(keys: AuthorityCommandKeys, registry: Registry, o: { authorityId: number; authorityEpoch: number; now: number }): number | undefined {
  const h = keys.log.latestCommand();
  if (!h || h.switchedAt !== undefined || h.retired || o.now < h.switchAt) return undefined;
  writeTransaction(registry.db, () => {
    const moves = registry.nodes()
      .filter((n) => n.status === 'active' && n.id !== o.authorityId)
      .map((n) => ({ nodeId: n.id, from: registry.advanceKeyEpoch(n.id, o.authorityEpoch, 'authority', `command key hand-over ${h.number}`).from }));
    keys.log.recordSwitch(h.number, moves, o.now);
  })();
  return h.number;
}
