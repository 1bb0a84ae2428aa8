// The authority's side of membership updates. From the registry it works out every active node's
// membership; its own peer list it applies to its own mesh at once (live, no restart), the others
// it signs and sends to each node's sync port, at once for those that changed and all of them
// again every `everyMs`. It follows the registry in this process (change events) and in others
// (the CLI writing the same database: SQLite's data_version, checked every `pollMs`).
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Mesh, MeshSocket } from '../mesh/mesh.js';
import { SYNC_PORT } from '../mesh/ports.js';
import type { Membership } from '../membership/membership.js';
import type { MembershipStore } from '../membership/membership-store.js';
import { HUB_ROLE } from '../fleet/roles.js';
import type { Registry, RegistryNode } from '../registry/registry.js';
import type { Pairing } from './pairing.js';
import { membershipFor, type AuthorityView } from './peers.js';
import type { GenesisKey } from './signing-key.js';
import { encodeUpdate } from './sync.js';
import type { HandoverLog } from '../registry/authority-handovers.js';

export interface SyncPusherOptions {
  registry: Registry;
  pairing: Pairing;
  mesh: Mesh;
  /** The genesis key; after a hand-over, the new one (authority-keys.ts, liveGenesisKey). */
  key: GenesisKey;
  /**
   * The authority key hand-overs: those in overlap go to every node before its update's parts,
   * and after a new one every node is sent its membership again, signed with the new key.
   */
  handovers?: HandoverLog;
  authority: AuthorityView;
  /** The authority's own membership store (its peers are kept current through it). */
  self: MembershipStore;
  everyMs: number;
  pollMs: number;
  count(what: string): void;
  logger: Logger;
}

export interface SyncPusher {
  /** Brings the authority's mesh and every node up to date with the registry now. */
  refresh(): void;
  seq(): number;
  status(): Record<string, unknown>;
  close(): Promise<void>;
}

const SEQ_KEY = 'sync_seq';
/** A round of updates to the nodes waits for the registry to be quiet this long, but never longer than PUSH_MAX_DELAY_MS. */
export const PUSH_SETTLE_MS = 200;
export const PUSH_MAX_DELAY_MS = 2_000;
/**
 * The authority's budget for rounds of updates: after a round of n parts the next waits n/2,000 s
 * (a 254-node round, 10,332 parts, then holds the next for 5 s), so a fleet joining for minutes
 * gets a round every few seconds rather than a round's worth of signing and sending every 2 s.
 */
export const PUSH_PARTS_PER_SECOND = 2_000;
const REPUSH_NODES_PER_TURN = 8;

export async function startSyncPusher(o: SyncPusherOptions): Promise<SyncPusher> {
  const socket: MeshSocket = await o.mesh.bind(0, () => o.count('sync-unexpected-inbound'));
  let seq = Number(o.pairing.getMeta(SEQ_KEY) ?? 0);
  /** What each node was last sent (membership JSON), under which seq, and its signed parts (re-sent as they are). */
  // At 254 nodes each membership is 45 KB of JSON and 48 KB of parts: a digest of the JSON is kept,
  // and the parts only until the node confirms its version (23 MB of the admin's heap otherwise).
  const sent = new Map<number, { digest: string; seq: number; address: string; parts: Buffer[] }>();
  const digestOf = (membership: Membership) => createHash('sha256').update(JSON.stringify(membership)).digest('base64');
  let ownPeers = JSON.stringify(o.self.current.peers);
  let handover = o.handovers?.latest()?.number ?? 0;

  // A hand-over goes first, so a node pins the new genesis key before the parts it signs arrive.
  const send = (address: string, parts: readonly Buffer[]) => {
    for (const h of o.handovers?.inOverlap(Date.now()) ?? []) o.count(socket.send(address, SYNC_PORT, h.message) ? 'handover-sent' : 'handover-unrouted');
    for (const part of parts) o.count(socket.send(address, SYNC_PORT, part) ? 'sync-sent' : 'sync-unrouted');
  };
  /** Signs the update as parts (docs/protocol.md); one too large for MAX_PARTS is counted and logged, never sent. */
  const encode = (nodeId: number, membership: Membership, updateSeq: number): Buffer[] | undefined => {
    try {
      return encodeUpdate(o.key, { seq: updateSeq, nodeId, membership });
    } catch (err) {
      o.count('sync-too-large');
      o.logger.error({ nodeId, err: (err as Error).message }, 'membership update too large');
      return undefined;
    }
  };

  const refresh = () => {
    // A new hand-over (the CLI, another process): sign with the new genesis key from now on, and
    // send every node its membership again (the hand-over first), signed with it.
    const latest = o.handovers?.latest()?.number ?? 0;
    if (latest !== handover) {
      handover = latest;
      sent.clear();
      o.logger.warn({ handover, genesisKey: o.key.publicText }, 'authority keys handed over: every node is sent the hand-over and its membership again');
    }
    // The fleet's key epoch moves when a node reports a retired key (registry.keyRetired): the
    // authority's own membership follows (the signer reads it), and every node's update says so.
    const epoch = o.registry.keyEpoch();
    if (epoch !== undefined && epoch !== o.authority.epoch) {
      o.logger.warn({ from: o.authority.epoch, to: epoch }, 'command key epoch moved');
      o.authority.epoch = epoch;
      o.self.apply({ epoch }, 'authority');
    }
    const nodes = o.registry.nodes();
    const self = nodes.find((n) => n.id === o.authority.nodeId);
    const mine = self && membershipFor(self, nodes, o.authority);
    if (mine && JSON.stringify(mine.peers) !== ownPeers) {
      o.mesh.setPeers(mine.peers);
      ownPeers = JSON.stringify(mine.peers);
      // Kept current in memory too: a mesh rebuilt later (reload) starts from these peers.
      o.self.apply({ peers: mine.peers }, 'authority');
      o.logger.info({ peers: mine.peers.map((p) => p.name) }, 'authority peers updated');
    }
    // The hub relays for everyone, so it learns of a change at once; the other nodes in one round
    // once the registry has been quiet for a moment (a fleet joining at once is one round, not
    // one per join: at 254 nodes a round is ~11,000 signed parts).
    push(nodes, (n) => n.role === HUB_ROLE);
    pushOthersSoon();
  };

  /** Sends every active node that `which` picks its membership, where it changed since last sent. */
  const push = (nodes: RegistryNode[], which: (n: RegistryNode) => boolean): number => {
    let partsSent = 0;
    const due: [number, Membership][] = [];
    for (const node of nodes) {
      if (node.status !== 'active' || node.id === o.authority.nodeId || !which(node)) continue;
      const membership = membershipFor(node, nodes, o.authority);
      if (membership && sent.get(node.id)?.digest !== digestOf(membership)) due.push([node.id, membership]);
    }
    if (!due.length) return 0;
    seq++;
    o.pairing.setMeta(SEQ_KEY, String(seq));
    for (const [id, membership] of due) {
      const parts = encode(id, membership, seq) ?? [];
      sent.set(id, { digest: digestOf(membership), seq, address: membership.address, parts });
      send(membership.address, parts);
      partsSent += parts.length;
    }
    return partsSent;
  };
  const pushAll = () => {
    const nodes = o.registry.nodes();
    const active = new Set(nodes.filter((n) => n.status === 'active').map((n) => n.id));
    for (const id of sent.keys()) if (!active.has(id)) sent.delete(id);
    const parts = push(nodes, () => true);
    nextRoundAt = Date.now() + (parts * 1000) / PUSH_PARTS_PER_SECOND;
  };
  let othersTimer: NodeJS.Timeout | undefined;
  let othersDueSince: number | undefined;
  let nextRoundAt = 0;
  let closed = false;
  const pushOthersSoon = () => {
    const now = Date.now();
    othersDueSince ??= now;
    clearTimeout(othersTimer);
    const wait = Math.max(0, Math.min(PUSH_SETTLE_MS, othersDueSince + PUSH_MAX_DELAY_MS - now), nextRoundAt - now);
    othersTimer = setTimeout(() => {
      othersDueSince = undefined;
      pushAll();
    }, wait);
  };

  let scheduled = false;
  const soon = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      refresh();
    });
  };
  const stopListening = o.registry.onChange((e) => e.type === 'node' && soon());
  let version = o.registry.db.pragma('data_version', { simple: true });
  const poll = setInterval(() => {
    const now = o.registry.db.pragma('data_version', { simple: true });
    if (now !== version) {
      version = now;
      refresh();
    }
  }, o.pollMs);
  /** Nodes whose last telemetry report does not yet say they applied the version they were sent. */
  const unconfirmed = (): number[] => {
    const applied = new Map(o.registry.nodes().map((n) => [n.id, n.report?.facts.syncSeq ?? 0]));
    return [...sent].filter(([id, s]) => (applied.get(id) ?? 0) < s.seq).map(([id]) => id);
  };
  // The re-push goes only to nodes that have not confirmed their version (a steady fleet of 254
  // costs nothing; before, 12 MB every everyMs), a few nodes at a time, so a full fleet's 10,000
  // parts never hold the event loop (commands and acks go through it) or flood the sockets.
  const repeat = setInterval(() => {
    const queue = unconfirmed();
    const behind = new Set(queue);
    for (const [id, s] of sent) if (!behind.has(id)) s.parts = [];
    // Confirmed once and behind again (its state restored from a backup?): signed again, under a new seq.
    const lost = queue.filter((id) => !sent.get(id)!.parts.length);
    if (lost.length) {
      for (const id of lost) sent.delete(id);
      pushAll();
    }
    const next = () => {
      if (closed) return;
      for (const id of queue.splice(0, REPUSH_NODES_PER_TURN)) {
        const s = sent.get(id);
        if (s) send(s.address, s.parts);
      }
      if (queue.length) setImmediate(next);
    };
    next();
  }, o.everyMs);
  refresh();

  return {
    refresh,
    seq: () => seq,
    status: () => ({ seq, nodes: sent.size, unconfirmed: unconfirmed().length, peers: (JSON.parse(ownPeers) as { name: string }[]).map((p) => p.name) }),
    close: async () => {
      closed = true;
      stopListening();
      clearInterval(poll);
      clearInterval(repeat);
      clearTimeout(othersTimer);
      socket.close();
    },
  };
}
