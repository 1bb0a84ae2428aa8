// Which X25519 pair each key epoch's derived keys come from. A key change is an epoch move: the
// epoch a node moves to is bound to the new pair (a new node identity key, or a new authority
// command key), the epoch it leaves keeps the old pair for the overlap, and everything else about
// epochs (counters, overlap, persistence, the registry's node_key_epochs) stays as it is.
//
// Node side: one NodeEpochKeys per node, shared by its verifier and its ack, report and
// key-retired signers, so one change reaches all of them before their next message.
// Authority side: the pair of (node, epoch) comes from the registry for each message; what is
// derived from it is cached per (node, epoch) and derived again when that pair changes.
import type { KeyObject } from 'node:crypto';
import { publicKeyObject, secretKeyObject, sharedSecret } from '../keys/index.js';
import { checkEpoch, deriveHmacKey, pairSecret, type Channel } from './key-derivation.js';

/** The node's halves of one epoch's pair secret. */
export interface NodePair {
  /** The node's X25519 secret (its WireGuard key), 32 raw bytes. */
  nodeSecret: Uint8Array;
  /** The authority's command public key, 32 raw bytes. */
  authorityPublic: Uint8Array;
}

export interface NodeEpochKeys {
  /** The key of `channel` for `epoch`, derived from that epoch's pair (cached until the pair changes). */
  hmacKey(channel: Channel, epoch: number, nodeId: number): KeyObject;
  /** The pair `epoch` derives from: its own binding, else the default. */
  pairOf(epoch: number): NodePair;
  /**
   * Binds `epoch` to the halves given; the halves not given (and not bound before) follow the
   * default. A node-key change and an authority-key change may bind the same epoch, each its half.
   */
  bind(epoch: number, pair: Partial<NodePair>): void;
  /** Drops `epoch`'s binding of the halves named (both when none are): they follow the default again. */
  unbind(epoch: number, ...halves: (keyof NodePair)[]): void;
  /** Replaces one half or both of the default pair, the one every unbound epoch uses; bindings stay. */
  setDefault(pair: Partial<NodePair>): void;
  /** Epochs with a binding of their own, ascending. */
  bound(): number[];
  /**
   * Goes up on every change. A holder of a derived key (the verifier keeps one per epoch slot)
   * compares it with the generation it derived at and asks `hmacKey` again when it differs.
   */
  readonly generation: number;
}

const copyPair = (pair: NodePair): NodePair => ({ nodeSecret: Buffer.from(pair.nodeSecret), authorityPublic: Buffer.from(pair.authorityPublic) });

/**
 * The node's epoch keys, every epoch on `pair` until told otherwise. A node's identity change
 * (new secret S', moving from e to e + 1) is `setDefault({ nodeSecret: S' })` and
 * `bind(e, { nodeSecret: S })` in one turn, then `unbind(e, 'nodeSecret')` when e's overlap
 * ends; an authority command-key change is the same with `authorityPublic`.
 */
export function createNodeEpochKeys(pair: NodePair): NodeEpochKeys {
  let defaults = copyPair(pair);
  const bindings = new Map<number, Partial<NodePair>>();
  // Derived keys per "channel/epoch/node" and pair secrets per epoch; both emptied on any change
  // (changes are rare: a derivation costs one X25519 and one HKDF).
  const derived = new Map<string, KeyObject>();
  const secrets = new Map<number, Buffer>();
  const keys: NodeEpochKeys = {
    generation: 0,
    hmacKey(channel, epoch, nodeId) {
      const id = `${channel}/${epoch}/${nodeId}`;
      let key = derived.get(id);
      if (!key) {
        checkEpoch(epoch);
        let ss = secrets.get(epoch);
        if (!ss) {
          const { nodeSecret, authorityPublic } = keys.pairOf(epoch);
          secrets.set(epoch, (ss = pairSecret(nodeSecret, authorityPublic)));
        }
        derived.set(id, (key = deriveHmacKey(ss, channel, epoch, nodeId)));
      }
      return key;
    },
    pairOf: (epoch) => ({ ...defaults, ...bindings.get(epoch) }),
    bind(epoch, half) {
      checkEpoch(epoch);
      const bound = { ...bindings.get(epoch) };
      if (half.nodeSecret) bound.nodeSecret = Buffer.from(half.nodeSecret);
      if (half.authorityPublic) bound.authorityPublic = Buffer.from(half.authorityPublic);
      bindings.set(epoch, bound);
      changed();
    },
    unbind(epoch, ...halves) {
      const bound = bindings.get(epoch);
      if (!bound) return;
      for (const half of halves.length ? halves : (['nodeSecret', 'authorityPublic'] as const)) delete bound[half];
      if (!bound.nodeSecret && !bound.authorityPublic) bindings.delete(epoch);
      changed();
    },
    setDefault(half) {
      defaults = copyPair({ ...defaults, ...half });
      changed();
    },
    bound: () => [...bindings.keys()].sort((a, b) => a - b),
  };
  function changed(): void {
    derived.clear();
    secrets.clear();
    (keys as { generation: number }).generation++;
  }
  return keys;
}

/** Node-side options: the node's shared epoch keys, or one fixed pair for every epoch. */
export type NodeKeysOption = { keys: NodeEpochKeys } | NodePair;

export function nodeKeysOf(option: NodeKeysOption): NodeEpochKeys {
  return 'keys' in option ? option.keys : createNodeEpochKeys(option);
}

/** The authority's halves of one (node, epoch)'s pair secret. */
export interface AuthorityPair {
  /** The authority's command secret (not its WireGuard key) for this epoch, 32 raw bytes. */
  authoritySecret: Uint8Array;
  /** The node's X25519 public key for this epoch, 32 raw bytes. */
  nodePublicKey: Uint8Array;
}

/**
 * Authority side: the pair one (node, epoch) derives from, asked for each message; undefined for
 * a node the authority does not know (or an epoch it holds no key of that node for).
 */
export type AuthorityPairs = (nodeId: number, epoch: number) => AuthorityPair | undefined;

/**
 * Authority-side options of the telemetry verifiers: the pair per (node, epoch), or the
 * authority's one command secret with each node's one registry key for every epoch.
 */
export type AuthorityKeysOption = (
  | { pairs: AuthorityPairs }
  | { authoritySecret: Uint8Array; nodePublicKey(nodeId: number): Uint8Array | undefined }
) & {
  /**
   * Derived keys shared by the authority's verifiers of one channel, so that a node's key is
   * derived once for all its kinds of message (an X25519 each: ~1 ms, 254 times a fleet); by
   * default the verifier keeps a cache of its own.
   */
  cache?: AuthorityKeyCache;
};

export function authorityPairsOf(option: AuthorityKeysOption): AuthorityPairs {
  if ('pairs' in option) return option.pairs;
  const { authoritySecret } = option;
  return (nodeId) => {
    const nodePublicKey = option.nodePublicKey(nodeId);
    return nodePublicKey && { authoritySecret, nodePublicKey };
  };
}

export interface AuthorityKeyCache {
  /** The key of `channel` for (node, epoch) under `pair`: derived once, again when the pair differs. */
  hmacKey(channel: Channel, nodeId: number, epoch: number, pair: AuthorityPair): KeyObject;
}

interface PairEntry {
  authoritySecret: Buffer;
  nodePublicKey: Buffer;
  ss: Buffer;
  keys: Map<string, KeyObject>;
}

export function createAuthorityKeyCache(): AuthorityKeyCache {
  // Per node and epoch: the pair last seen and its derivations. Epochs of one node on the same
  // pair share one X25519.
  const entries = new Map<number, PairEntry>();
  const same = (e: PairEntry, pair: AuthorityPair) => e.nodePublicKey.equals(pair.nodePublicKey) && e.authoritySecret.equals(pair.authoritySecret);
  return {
    hmacKey(channel, nodeId, epoch, pair) {
      const slot = nodeId * 64 + epoch;
      let entry = entries.get(slot);
      if (!entry || !same(entry, pair)) {
        let ss: Buffer | undefined;
        for (let e = 0; e < 64 && !ss; e++) {
          const other = entries.get(nodeId * 64 + e);
          if (other && same(other, pair)) ss = other.ss;
        }
        ss ??= sharedSecret(secretKeyObject(pair.authoritySecret), publicKeyObject(pair.nodePublicKey));
        entries.set(slot, (entry = { authoritySecret: Buffer.from(pair.authoritySecret), nodePublicKey: Buffer.from(pair.nodePublicKey), ss, keys: new Map() }));
      }
      let key = entry.keys.get(channel);
      if (!key) entry.keys.set(channel, (key = deriveHmacKey(entry.ss, channel, epoch, nodeId)));
      return key;
    },
  };
}
