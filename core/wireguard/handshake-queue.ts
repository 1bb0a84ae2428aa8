// Handshake messages go through a bounded queue worked off with a budget per turn of the event
// loop (wireguard-go runs them on separate handshake workers; Node has one thread). Transport
// data stays inline, so a flood of handshake messages costs other peers' data at most the
// budget's worth of work per turn, and the overflow costs a lookup each, counted as
// 'handshake: queue full' (the queue is full, or the source holds its share of it). While the budget lasts (the normal case: a few handshakes a turn)
// messages are handled at once, exactly as if there were no queue.
import type { DeviceContext } from './context.js';
import type { Endpoint } from './peer.js';

/** wireguard-go's QueueHandshakeSize. */
export const HANDSHAKE_QUEUE_SIZE = 1024;
/**
 * Places one source address may hold in the queue. A single source cannot fill it, so other
 * peers' handshakes (a rekey, a new node) still get in at the first try during its flood.
 */
export const HANDSHAKE_QUEUE_PER_SOURCE = 16;
/**
 * Handshake messages handled per event-loop turn (libuv reads up to 32 datagrams a turn). A
 * DH-bearing message costs ~0.1–0.3 ms here, a cookie reply ~0.05 ms: a small budget keeps the
 * socket read fast under a flood, so the kernel's buffer does not overflow and drop data.
 */
export const HANDSHAKES_PER_TURN = 4;

export type HandshakeWork = (d: Uint8Array, type: number, from: Endpoint) => void;

export interface HandshakeQueue {
  push(d: Uint8Array, type: number, from: Endpoint): void;
  /** Messages waiting. */
  readonly length: number;
}

export function createHandshakeQueue(ctx: DeviceContext, work: HandshakeWork): HandshakeQueue {
  const queue: { d: Uint8Array; type: number; from: Endpoint; source: string }[] = [];
  const queuedBySource = new Map<string, number>();
  let head = 0;
  let budget = HANDSHAKES_PER_TURN;
  let refillScheduled = false;

  // The budget refills once per turn: at the check phase after the poll phase that used it.
  function spend(): void {
    budget--;
    if (!refillScheduled) {
      refillScheduled = true;
      setImmediate(nextTurn);
    }
  }

  function nextTurn(): void {
    refillScheduled = false;
    budget = HANDSHAKES_PER_TURN;
    while (budget > 0 && head < queue.length && !ctx.isClosed()) {
      const m = queue[head++];
      const left = queuedBySource.get(m.source)! - 1;
      if (left === 0) queuedBySource.delete(m.source);
      else queuedBySource.set(m.source, left);
      spend();
      work(m.d, m.type, m.from);
    }
    if (head === queue.length || ctx.isClosed()) {
      queue.length = 0;
      head = 0;
      queuedBySource.clear();
    } else if (head >= HANDSHAKE_QUEUE_SIZE) {
      // Under a steady flood the queue never empties: drop what was worked off now and then.
      queue.splice(0, head);
      head = 0;
    }
  }

  return {
    push(d, type, from) {
      if (budget > 0 && head === queue.length) {
        spend();
        return work(d, type, from);
      }
      const source = 'relay' in from ? `relay:${from.relay}` : from.host;
      const held = queuedBySource.get(source) ?? 0;
      if (held >= HANDSHAKE_QUEUE_PER_SOURCE || queue.length - head >= HANDSHAKE_QUEUE_SIZE) return ctx.drop('handshake: queue full');
      queuedBySource.set(source, held + 1);
      queue.push({ d, type, from, source });
      if (!refillScheduled) {
        refillScheduled = true;
        setImmediate(nextTurn);
      }
    },
    get length() { return queue.length - head; },
  };
}
