// What stages exchange: envelope kinds and their bodies, and why envelopes are dropped. Defined
// here, in core, so producers and consumers share them without importing each other.
import type { AckReport, CommandAck, OutboundCommand, VerifiedCommand } from './command.js';
import type { IntentRequest, RoutedIntent } from './intent.js';
import type { SyncRecord } from './sync-record.js';

export * from './command.js';
export * from './demo-fleet.js';
export * from './draft-guard.js';
export * from './drops.js';
export * from './f8.js';
export * from './genesis-event.js';
export * from './fleet.js';
export * from './intent.js';
export * from './operator-policy.js';
export * from './router.js';
export * from './sync-record.js';

/** The body each well-known envelope kind carries ('command' and 'ack' differ by side). */
export interface EnvelopeBodies {
  intent: IntentRequest;
  draft: RoutedIntent;
  command: OutboundCommand | VerifiedCommand;
  ack: CommandAck | AckReport;
  /** A received UDP payload; meta.from is { address, port }. */
  datagram: Uint8Array;
  /** A record a paired peer published (sync-receive). */
  record: SyncRecord;
}

export type EnvelopeKind = keyof EnvelopeBodies;
