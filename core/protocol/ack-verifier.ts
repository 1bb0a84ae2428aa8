// Authority side: checks acks arriving on the telemetry channel. Each (node, epoch) keeps a
// replay window over the acknowledged counters, so an ack is taken once: a retransmitted or
// replayed one is reported as a duplicate, one older than the window as too old. With `windows`
// (ack-windows.ts) the windows live in SQLite and a restart forgets none.
import { timingSafeEqual } from 'node:crypto';
import { ACK_HEADER_LENGTH, ACK_TAG_LENGTH, ACK_TYPE, MAX_ACK_LENGTH, MIN_ACK_LENGTH, ackStatusOf, ackTag, type AckStatus } from './ack.js';
import { authorityPairsOf, createAuthorityKeyCache, type AuthorityKeysOption } from './epoch-keys.js';
import type { AckWindowStore } from './ack-windows.js';
import { createReplayWindow, type ReplayWindow } from './replay-window.js';

export type AckRejectReason =
  | 'length' // shorter than 29 or longer than 229 bytes, or L (byte 12) disagrees with the length
  | 'type' // byte 0 is not 0xC1
  | 'epoch' // not 0..63
  | 'unknown-node' // the node id has no public key in the registry
  | 'status' // an unassigned status code
  | 'detail' // not valid UTF-8
  | 'tag'
  | 'zero-counter'
  | 'too-old' // 2048 or more below the highest C acknowledged by this node in this epoch
  | 'duplicate'; // this node already acknowledged this C

export const ACK_REJECT_REASONS: readonly AckRejectReason[] = [
  'length', 'type', 'epoch', 'unknown-node', 'status', 'detail', 'tag', 'zero-counter', 'too-old', 'duplicate',
];

export interface VerifiedAck {
  ok: true;
  nodeId: number;
  epoch: number;
  counter: bigint;
  status: AckStatus;
  detail: string;
}

export type AckVerifyResult = VerifiedAck | { ok: false; reason: AckRejectReason };

/**
 * The pair per (node, epoch) (epoch-keys.ts), or the authority's command secret with each node's
 * registry key for every epoch (undefined for a node it does not know).
 */
export type AckVerifierOptions = AckVerifierSettings & AuthorityKeysOption;

export interface AckVerifierSettings {
  /** Where the replay windows persist; without, they live in memory and a restart forgets them. */
  windows?: AckWindowStore;
}

export interface AckVerifier {
  verify(datagram: Uint8Array): AckVerifyResult;
  /** `unsaved`: acks taken whose window could not be persisted. */
  stats(): { accepted: number; unsaved: number; rejected: Record<AckRejectReason, number> };
}

const decoder = new TextDecoder('utf-8', { fatal: true });

export function createAckVerifier(options: AckVerifierOptions): AckVerifier {
  const pairs = authorityPairsOf(options);
  const cache = options.cache ?? createAuthorityKeyCache();
  // Per (node, epoch) its replay window; keys come from the cache, per the epoch's pair.
  const windows = new Map<number, ReplayWindow>();
  let accepted = 0;
  let unsaved = 0;
  const rejected = Object.fromEntries(ACK_REJECT_REASONS.map((r) => [r, 0])) as Record<AckRejectReason, number>;

  function windowOf(nodeId: number, epoch: number): ReplayWindow {
    let window = windows.get(nodeId * 64 + epoch);
    if (!window) windows.set(nodeId * 64 + epoch, (window = options.windows?.load(nodeId, epoch) ?? createReplayWindow()));
    return window;
  }

  function reject(reason: AckRejectReason): AckVerifyResult {
    rejected[reason]++;
    return { ok: false, reason };
  }

  return {
    verify(datagram) {
      if (datagram.length < MIN_ACK_LENGTH || datagram.length > MAX_ACK_LENGTH) return reject('length');
      const ack = Buffer.from(datagram.buffer, datagram.byteOffset, datagram.length);
      if (ack[0] !== ACK_TYPE) return reject('type');
      // With the length at most 229, agreeing with L also means L ≤ 200.
      const detailLength = ack[12];
      if (ack.length !== MIN_ACK_LENGTH + detailLength) return reject('length');
      const epoch = ack[1];
      if (epoch > 63) return reject('epoch');
      const status = ackStatusOf(ack[3]);
      if (status === undefined) return reject('status');
      const nodeId = ack[2];
      const pair = nodeId >= 1 && nodeId <= 254 ? pairs(nodeId, epoch) : undefined;
      if (pair === undefined) return reject('unknown-node');
      const signedLength = ACK_HEADER_LENGTH + detailLength;
      const expected = ackTag(cache.hmacKey('telemetry', nodeId, epoch, pair), ack.subarray(0, signedLength));
      if (!timingSafeEqual(expected, ack.subarray(signedLength, signedLength + ACK_TAG_LENGTH))) return reject('tag');
      let detail: string;
      try {
        detail = decoder.decode(ack.subarray(ACK_HEADER_LENGTH, signedLength));
      } catch {
        return reject('detail');
      }
      const counter = ack.readBigUInt64BE(4);
      if (counter === 0n) return reject('zero-counter');
      const window = windowOf(nodeId, epoch);
      const seen = window.check(counter);
      if (seen === 'too-old') return reject('too-old');
      if (seen === 'seen') return reject('duplicate');
      window.accept(counter);
      // Durable before the caller acts on it. A store that cannot write (a full disk) must not
      // stop acks: this one is taken all the same, counted, and only a restart could take it again.
      try {
        options.windows?.save(nodeId, epoch, window);
      } catch {
        unsaved++;
      }
      accepted++;
      return { ok: true, nodeId, epoch, counter, status, detail };
    },
    stats: () => ({ accepted, unsaved, rejected: { ...rejected } }),
  };
}
