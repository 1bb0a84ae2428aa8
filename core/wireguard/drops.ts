// Why the device discarded a datagram or packet: one closed set of reasons, counted by reason in
// stats().drops and emitted as 'drop' events. The values are the words operators see in status
// output and logs, so they stay stable; tests and callers match them as typed values.
import { EventEmitter } from 'node:events';

export const DROP_REASONS = [
  // outer datagrams
  'not a wireguard message',
  'handshake: bad mac1',
  'handshake: cookie required',
  'handshake: rate limited',
  'handshake: queue full',
  'initiation: low-order ephemeral key',
  'initiation: static key does not decrypt',
  'initiation: unknown peer',
  'initiation: timestamp does not decrypt',
  'initiation: replayed timestamp',
  'initiation: flood',
  'response: unknown index',
  'response: does not authenticate',
  'cookie reply: unknown index',
  'cookie reply: does not authenticate',
  'transport: unknown index',
  'transport: session expired',
  'transport: does not authenticate',
  'transport: replayed',
  // sending
  'no route',
  'no endpoint',
  'no relay',
  'no path',
  'no session',
  'send failed',
  'staged queue full',
  'handshake gave up',
  // inner packets
  'inner: not a valid IPv4 packet',
  'inner: source not allowed for peer',
  'inner: bad udp',
  'inner: udp port closed',
  'inner: icmp not an echo request',
  'inner: protocol not carried',
  'inner: not for this address',
  'forward: no route',
  'forward: route leads back to the sender',
  'forward: ttl expired',
] as const;

export type DropReason = (typeof DROP_REASONS)[number];

/** Why an initiation did not authenticate (the reasons noise.ts's consumeInitiation gives). */
export type InitiationRefusal = 'low-order ephemeral key' | 'static key does not decrypt' | 'unknown peer' | 'timestamp does not decrypt';

export type DropCounts = Partial<Record<DropReason, number>>;

export interface DropEvent {
  reason: DropReason;
  peer?: string;
}

/** Details logged with a drop (at debug level): public keys and addresses, never secrets. */
export type DropContext = { peer?: string; [detail: string]: unknown };

export interface Drops {
  drop(reason: DropReason, context?: DropContext): void;
  counts(): DropCounts;
}

export function createDrops(log: { debug(obj: object, msg: string): void }, events: EventEmitter): Drops {
  const counts: DropCounts = {};
  return {
    drop(reason, context) {
      counts[reason] = (counts[reason] ?? 0) + 1;
      log.debug({ reason, ...context }, 'dropped');
      events.emit('drop', { reason, peer: context?.peer });
    },
    counts: () => ({ ...counts }),
  };
}
