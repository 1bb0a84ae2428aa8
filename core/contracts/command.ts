// Commands as they travel: signed on the admin (for the diode and udp-egress), verified on a node
// (for the executor), acknowledged back (for telemetry-egress), reported on the admin.
import type { AckStatus } from '../protocol/ack.js';
import type { Draft } from './intent.js';

export type { AckStatus };

/** Envelope kind 'command' on the admin: the signer's output, one packet per target node. */
export interface OutboundCommand {
  id: string;
  epoch: number;
  counter: string;
  text: string;
  actor: string;
  draft: Draft;
  packets: { nodeId: number; name: string; address: string; port: number; bytes: Buffer }[];
}

/** Envelope kind 'command' on a node: a packet the verifier accepted, for the executor. */
export interface VerifiedCommand {
  counter: bigint;
  epoch: number;
  opcode: number;
  arg: number;
  selector: number;
}

/** Envelope kind 'ack' on a node: the executor's outcome, for telemetry-egress. */
export interface CommandAck {
  epoch: number;
  counter: bigint;
  status: AckStatus;
  detail: string;
}

/** Envelope kind 'ack' on the admin: a verified ack, its counter as a decimal string (as everywhere in JSON). */
export interface AckReport {
  nodeId: number;
  epoch: number;
  counter: string;
  status: AckStatus;
  detail: string;
}

/**
 * A command's id in the registry, F8 and logs: its key epoch and its number in the registry's
 * sequence for that epoch (c0-1, c0-2, …). Not the counter: the wire counter skips the rest of
 * its reserved block after each admin restart (core/protocol/authority-counter.ts).
 */
export function commandId(epoch: number, seq: number): string {
  return `c${epoch}-${seq}`;
}
