// Node side: decides whether one datagram from port 8090 is a command to execute, following the
// spec's seven receive steps in order and stopping at the first failure.
import type { KeyObject } from 'node:crypto';
import { reconstructCounter, MAX_COUNTER } from './counter.js';
import { createFailureBudget, DEFAULT_FAILURE_BURST, DEFAULT_FAILURES_PER_SECOND } from './failure-budget.js';
import { nodeKeysOf, type NodeKeysOption } from './epoch-keys.js';
import { checkEpoch, checkNodeId } from './key-derivation.js';
import type { NodeStateStore } from './node-state.js';
import { COMMAND_VERSION, PACKET_LENGTH } from './packet.js';
import { createReplayWindow, type ReplayWindow } from './replay-window.js';
import { tagMatches } from './tag.js';
import { targetKind, targetMatches } from './target.js';

/** Why a packet was refused. Stable strings: they name metrics and appear in logs and JSON. */
export type RejectReason =
  | 'rate-limited' // before step 1: its source spent its budget of failed tags; not checked, not counted as a failure
  | 'length' // step 1: not exactly 16 bytes
  | 'version' // step 1: bits 7–6 of byte 0 are not 01
  | 'no-key' // step 2: the epoch is neither the current nor the previous one
  | 'key-retired' // step 2: the epoch's key hit the failed-tag cap
  | 'tag' // step 4
  | 'zero-counter' // step 5: C = 0 is never sent
  | 'too-old' // step 5: C ≤ H − 2048
  | 'replay' // step 5: C already accepted (or below H after a restart)
  | 'reserved-target' // step 6: a selector value the spec reserves
  | 'target'; // step 6: the selector names other nodes

export const REJECT_REASONS: readonly RejectReason[] = [
  'rate-limited', 'length', 'version', 'no-key', 'key-retired', 'tag', 'zero-counter', 'too-old', 'replay', 'reserved-target', 'target',
];

export interface AcceptedCommand {
  ok: true;
  counter: bigint;
  epoch: number;
  opcode: number;
  arg: number;
  selector: number;
}

export interface Rejection {
  ok: false;
  reason: RejectReason;
}

export type VerifyResult = AcceptedCommand | Rejection;

export interface VerifierStats {
  accepted: number;
  rejected: Record<RejectReason, number>;
}

export const DEFAULT_FAILED_TAG_CAP = 2 ** 20;

/**
 * The node's epoch keys (epoch-keys.ts: shared with its signers, each epoch on its own pair), or
 * one pair for every epoch: this node's X25519 secret and the authority's command public key.
 */
export type VerifierOptions = VerifierSettings & NodeKeysOption;

export interface VerifierSettings {
  /** The host octet of the node's mesh address, 1..254. */
  nodeId: number;
  /** Ids of the groups this node belongs to (from the pairing registry). */
  groups?: Iterable<number>;
  state: NodeStateStore;
  /** The current key epoch. */
  epoch: number;
  /** The epoch before it, still accepted while the authority switches over. */
  previousEpoch?: number;
  /** Failed tag checks after which an epoch's key is retired. Default 2^20. */
  failedTagCap?: number;
  /** Called once when an epoch's key is retired: time to ask the authority for a new epoch. */
  onKeyRetired?: (epoch: number) => void;
  /** Failed tag checks per second one source may cause before its packets are dropped unchecked. Default 10. */
  failuresPerSecond?: number;
  /** Failed tag checks a quiet source may cause at once. Default 20. */
  failureBurst?: number;
  /** Milliseconds, for the per-source budget; default performance.now. */
  now?: () => number;
}

export interface Verifier {
  /**
   * Verifies one datagram. When it returns `ok: true` the counter is already persisted, so the
   * command may be handed on for execution. Throws only if the state store fails. With `source`
   * (its sender's address), failed tags are budgeted per source (see failure-budget.ts).
   */
  verify(packet: Uint8Array, source?: string): VerifyResult;
  /** The current epoch. */
  readonly epoch: number;
  /** Whether this node retired the key of `epoch` (persisted: also true after a restart). */
  isRetired(epoch: number): boolean;
  /** Failed tag checks counted in `epoch` (an upper bound after a restart). */
  failedTags(epoch: number): number;
  /**
   * Makes `epoch` current; the current one becomes the previous, any older one is dropped. The
   * previous stays accepted until `expirePrevious` says otherwise. An epoch this node has not
   * used yet starts at the highest counter it accepted so far: the authority's counter is one
   * sequence for all epochs, so nothing signed later can be below it, and the counter
   * reconstruction stays within reach however far the sequence went in other epochs.
   */
  setEpoch(epoch: number): void;
  /** The previous epoch is refused (`no-key`) from `afterMs` on (0: at once); an earlier deadline stands. */
  expirePrevious(afterMs: number): void;
  /** The previous epoch, while it is still accepted. */
  readonly previousEpoch: number | undefined;
  setGroups(groups: Iterable<number>): void;
  stats(): VerifierStats;
}

interface EpochSlot {
  epoch: number;
  key: KeyObject;
  /** The epoch keys' generation `key` was derived at. */
  generation: number;
  window: ReplayWindow;
  failedTags: number;
  /** The persisted upper bound of failedTags. */
  failedTagBound: number;
  retired: boolean;
}

// Rejections are shared constant objects: refusing a packet allocates nothing.
const REJECT = Object.fromEntries(REJECT_REASONS.map((reason) => [reason, Object.freeze({ ok: false, reason })])) as Record<
  RejectReason,
  Rejection
>;

export function createVerifier(options: VerifierOptions): Verifier {
  const { nodeId, state, onKeyRetired } = options;
  checkNodeId(nodeId);
  const cap = options.failedTagCap ?? DEFAULT_FAILED_TAG_CAP;
  if (!Number.isInteger(cap) || cap < 1) throw new RangeError(`failedTagCap must be a positive integer, got ${cap}`);
  // Failed-tag counts are persisted every cap/1024 failures: a crash overstates the count by
  // less than that, and forged packets cost one write per 1024 of them at the default cap.
  const failedTagBlock = Math.max(1, Math.floor(cap / 1024));
  const keys = nodeKeysOf(options);
  let groups: ReadonlySet<number> = new Set(options.groups ?? []);
  const slots: (EpochSlot | undefined)[] = new Array(64).fill(undefined);
  let current: EpochSlot;
  let previous: EpochSlot | undefined;
  /** When the previous epoch stops being accepted (in `now` milliseconds); undefined: not yet decided. */
  let previousUntil: number | undefined;
  const now = options.now ?? (() => performance.now());
  let accepted = 0;
  const budget = createFailureBudget({
    perSecond: options.failuresPerSecond ?? DEFAULT_FAILURES_PER_SECOND,
    burst: options.failureBurst ?? DEFAULT_FAILURE_BURST,
    now,
  });
  const rejected = Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>;

  function openSlot(epoch: number): EpochSlot {
    checkEpoch(epoch);
    const saved = state.load(epoch);
    return {
      epoch,
      key: keys.hmacKey('command', epoch, nodeId),
      generation: keys.generation,
      window: createReplayWindow(saved.highest),
      failedTags: saved.failedTags,
      failedTagBound: saved.failedTags,
      retired: saved.retired || saved.failedTags >= cap,
    };
  }

  function install(next: EpochSlot, prev: EpochSlot | undefined): void {
    slots.fill(undefined);
    current = next;
    previous = prev;
    previousUntil = undefined;
    slots[next.epoch] = next;
    if (prev) slots[prev.epoch] = prev;
  }

  install(
    openSlot(options.epoch),
    options.previousEpoch === undefined || options.previousEpoch === options.epoch ? undefined : openSlot(options.previousEpoch),
  );

  function reject(reason: RejectReason): Rejection {
    rejected[reason]++;
    return REJECT[reason];
  }

  function countFailedTag(slot: EpochSlot): void {
    slot.failedTags++;
    if (slot.failedTags >= cap) {
      state.retire(slot.epoch);
      slot.retired = true;
      onKeyRetired?.(slot.epoch);
    } else if (slot.failedTags > slot.failedTagBound) {
      const bound = Math.min(cap, slot.failedTags + failedTagBlock - 1);
      state.saveFailedTags(slot.epoch, bound);
      slot.failedTagBound = bound;
    }
  }

  return {
    verify(packet, source) {
      if (source !== undefined && !budget.allows(source)) return reject('rate-limited');
      // 1. length and version
      if (packet.length !== PACKET_LENGTH) return reject('length');
      const byte0 = packet[0];
      if (byte0 >> 6 !== COMMAND_VERSION) return reject('version');
      // 2. a key for this epoch
      const epoch = byte0 & 0x3f;
      let slot = slots[epoch];
      if (slot !== undefined && slot === previous && previousUntil !== undefined && now() >= previousUntil) {
        slots[epoch] = slot = previous = previousUntil = undefined;
      }
      if (slot === undefined) return reject('no-key');
      if (slot.retired) return reject('key-retired');
      // The epoch's pair may have changed since the slot was opened (a key change binds epochs).
      if (slot.generation !== keys.generation) {
        slot.key = keys.hmacKey('command', epoch, nodeId);
        slot.generation = keys.generation;
      }
      // 3. the full counter, relative to H
      const window = slot.window;
      const counter = reconstructCounter(window.highest, (packet[5] << 16) | (packet[6] << 8) | packet[7]);
      // 4. the tag (a counter past 2^64 − 1 cannot have been signed)
      if (counter > MAX_COUNTER || !tagMatches(slot.key, counter, packet)) {
        if (source !== undefined) budget.spend(source);
        countFailedTag(slot);
        return reject('tag');
      }
      // 5. replay
      if (counter === 0n) return reject('zero-counter');
      const seen = window.check(counter);
      if (seen === 'too-old') return reject('too-old');
      if (seen === 'seen') return reject('replay');
      // 6. target
      const selector = (packet[3] << 8) | packet[4];
      const kind = targetKind(selector);
      if (kind === 'reserved') return reject('reserved-target');
      if (!targetMatches(selector, nodeId, groups)) return reject('target');
      // 7. persist H before anyone can act on the command
      if (counter > window.highest) state.saveHighest(epoch, counter);
      window.accept(counter);
      accepted++;
      return { ok: true, counter, epoch, opcode: packet[1], arg: packet[2], selector };
    },
    setEpoch(epoch) {
      if (epoch === current.epoch) return;
      let next = previous?.epoch === epoch ? previous : openSlot(epoch);
      if (next !== previous && next.window.highest < current.window.highest) {
        state.saveHighest(epoch, current.window.highest);
        next = { ...next, window: createReplayWindow(current.window.highest) };
      }
      install(next, current);
    },
    expirePrevious(afterMs) {
      if (!previous) return;
      const until = now() + afterMs;
      if (previousUntil === undefined || until < previousUntil) previousUntil = until;
    },
    get previousEpoch() {
      if (previous && previousUntil !== undefined && now() >= previousUntil) return undefined;
      return previous?.epoch;
    },
    setGroups(next) {
      groups = new Set(next);
    },
    get epoch() {
      return current.epoch;
    },
    isRetired(epoch) {
      const slot = slots[epoch];
      if (slot) return slot.retired;
      checkEpoch(epoch);
      const saved = state.load(epoch);
      return saved.retired || saved.failedTags >= cap;
    },
    failedTags(epoch) {
      return slots[epoch]?.failedTags ?? state.load(epoch).failedTags;
    },
    stats: () => ({ accepted, rejected: { ...rejected } }),
  };
}
