// A node's identity key and its change (docs/keys.md): identity.key, the key it is moving to
// (identity.pending.json, until the authority's membership names it), and the key it replaced
// (identity.previous.json, bound to the epoch it left until the overlap ends). Secrets only in
// these files (0600) and in memory, never in a log. The node's epoch keys follow the files: the
// pending key is bound to the epoch the node moves to, the replaced one to the epoch it left, so
// a restart at any step finds the same keys in force.
import { existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatKey, generateSecret, parseKey, publicKeyOf } from '../keys/index.js';
import { loadSecret, readJson, writeJsonAtomic } from '../membership/instance-files.js';
import { createNodeEpochKeys, type NodeEpochKeys } from '../protocol/epoch-keys.js';
import { checkEpoch } from '../protocol/key-derivation.js';

export const IDENTITY_FILE = 'identity.key';
export const PENDING_IDENTITY_FILE = 'identity.pending.json';
export const PREVIOUS_IDENTITY_FILE = 'identity.previous.json';

/** The key the node is moving to: asked for from epoch `from`, bound to `to`. */
export interface PendingIdentity {
  secret: Buffer;
  publicKey: string;
  from: number;
  to: number;
  /** When the change began (epoch ms). */
  since: number;
}

/** The key the node replaced: its messages of `epoch` are still made with it until `until` (epoch ms). */
export interface PreviousIdentity {
  secret: Buffer;
  publicKey: string;
  epoch: number;
  until: number;
}

export interface IdentityKeys {
  readonly secret: Buffer;
  readonly publicKey: string;
  readonly pending: PendingIdentity | undefined;
  readonly previous: PreviousIdentity | undefined;
  /** The node's epoch keys (node.keys), kept in line with the files. */
  readonly keys: NodeEpochKeys;
  /** Begins a change: a new key pair, saved as pending and bound to epoch `to`. */
  begin(from: number, to: number, now?: number): PendingIdentity;
  /**
   * The authority named the pending key: it becomes the identity key (every epoch's default),
   * the one it replaces stays bound to the epoch left until `until`.
   */
  confirm(until: number): PreviousIdentity;
  /** The replaced key is forgotten: its file deleted, its epoch back on the identity key. */
  endOverlap(): void;
}

interface SavedPending {
  secret: string;
  from: number;
  to: number;
  since: number;
}

interface SavedPrevious {
  secret: string;
  epoch: number;
  until: number;
}

const secretText = (secret: Uint8Array) => formatKey(secret);
const pendingOf = (saved: SavedPending): PendingIdentity => {
  checkEpoch(saved.from);
  checkEpoch(saved.to);
  const secret = parseKey(saved.secret, PENDING_IDENTITY_FILE);
  return { secret, publicKey: formatKey(publicKeyOf(secret)), from: saved.from, to: saved.to, since: saved.since };
};
const previousOf = (saved: SavedPrevious): PreviousIdentity => {
  checkEpoch(saved.epoch);
  const secret = parseKey(saved.secret, PREVIOUS_IDENTITY_FILE);
  return { secret, publicKey: formatKey(publicKeyOf(secret)), epoch: saved.epoch, until: saved.until };
};

export interface OpenIdentityOptions {
  /** The authority's command public key: the other half of every epoch's pair. */
  authorityPublic: Uint8Array;
  /** The node's own key as the authority's membership names it (membership.publicKey), if it does. */
  confirmedKey: string | undefined;
  /** How long the replaced key stays bound when a change is confirmed while the node was down. */
  overlapMs: number;
  now?: number;
}

/**
 * Loads the identity of the node in `dir` (identity.key made if missing), finishing what a crash
 * may have interrupted: a pending key the membership already names is taken (as a live
 * confirmation would), a replaced key whose overlap has passed is forgotten.
 */
export function openIdentityKeys(dir: string, options: OpenIdentityOptions): IdentityKeys {
  const now = options.now ?? Date.now();
  const pendingPath = join(dir, PENDING_IDENTITY_FILE);
  const previousPath = join(dir, PREVIOUS_IDENTITY_FILE);
  let secret = loadSecret(dir, IDENTITY_FILE, true);
  let pending = existsSync(pendingPath) ? pendingOf(readJson(pendingPath) as SavedPending) : undefined;
  let previous = existsSync(previousPath) ? previousOf(readJson(previousPath) as SavedPrevious) : undefined;
  const keys = createNodeEpochKeys({ nodeSecret: secret, authorityPublic: options.authorityPublic });

  const identity: IdentityKeys = {
    get secret() {
      return secret;
    },
    get publicKey() {
      return formatKey(publicKeyOf(secret));
    },
    get pending() {
      return pending;
    },
    get previous() {
      return previous;
    },
    keys,
    begin(from, to, at = Date.now()) {
      if (pending) throw new Error(`an identity change is already under way (to ${pending.publicKey})`);
      checkEpoch(from);
      checkEpoch(to);
      const next = generateSecret();
      writeJsonAtomic(pendingPath, { secret: secretText(next), from, to, since: at } satisfies SavedPending);
      pending = pendingOf({ secret: secretText(next), from, to, since: at });
      keys.bind(to, { nodeSecret: next });
      return pending;
    },
    confirm(until) {
      if (!pending) throw new Error('no identity change is under way');
      const replaced: PreviousIdentity = { secret, publicKey: formatKey(publicKeyOf(secret)), epoch: pending.from, until };
      // In this order, so a crash between any two steps is finished by openIdentityKeys: the
      // replaced key is kept first, then the new one becomes identity.key, then pending goes.
      writeJsonAtomic(previousPath, { secret: secretText(replaced.secret), epoch: replaced.epoch, until } satisfies SavedPrevious);
      const tmp = join(dir, `${IDENTITY_FILE}.${process.pid}.tmp`);
      writeFileSync(tmp, `${formatKey(pending.secret)}\n`, { mode: 0o600 });
      renameSync(tmp, join(dir, IDENTITY_FILE));
      rmSync(pendingPath, { force: true });
      if (previous && previous.epoch !== replaced.epoch) keys.unbind(previous.epoch, 'nodeSecret');
      secret = pending.secret;
      keys.setDefault({ nodeSecret: secret });
      keys.unbind(pending.to, 'nodeSecret');
      keys.bind(replaced.epoch, { nodeSecret: replaced.secret });
      pending = undefined;
      previous = replaced;
      return replaced;
    },
    endOverlap() {
      if (!previous) return;
      rmSync(previousPath, { force: true });
      keys.unbind(previous.epoch, 'nodeSecret');
      previous = undefined;
    },
  };

  // A crash after identity.key was replaced but before pending was removed.
  if (pending && pending.publicKey === identity.publicKey) {
    rmSync(pendingPath, { force: true });
    pending = undefined;
  }
  if (previous && previous.until <= now) identity.endOverlap();
  if (previous) keys.bind(previous.epoch, { nodeSecret: previous.secret });
  if (pending) {
    keys.bind(pending.to, { nodeSecret: pending.secret });
    // Confirmed while the node was down (or before it could finish): taken now.
    if (options.confirmedKey === pending.publicKey) identity.confirm(now + options.overlapMs);
  }
  return identity;
}
