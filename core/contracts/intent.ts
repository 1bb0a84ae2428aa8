// What an operator asks for, and the router's answer to it: a draft or an abstention. A draft is
// a proposal for the signer and the policy to judge; routing never authorises anything.

/** Envelope kind 'intent': what an ingress (F8) emits for the router. */
export interface IntentRequest {
  text: string;
  actor: string;
  dryRun: boolean;
  confirm: boolean;
}

/** A proposed command: everything the signer needs to build the 16-byte packet, and why. */
export interface Draft {
  intent: string;
  opcode: number;
  arg: number;
  /** The argument value's name ('telemetry', 'debug'), or null for intents without an argument. */
  argName: string | null;
  /** The target's name: a node, a group, or 'all'; for a set of targets, their names joined by ', '. */
  target: string;
  /** Target selector of the packet: node id, 0x0100 | group id, or 0xFFFF; for a set, its first member's. */
  selector: number;
  /**
   * A set of targets ("onprem and node 7", what is left of "all except leased" when no one group
   * is exactly that): each member with its own selector; every node gets one packet carrying its
   * member's selector. Absent when one target (a node, a group, everyone) is meant: groups stay groups.
   */
  targets?: DraftTarget[];
  /** 0..1; how sure the backend is. Not a permission. */
  confidence: number;
  /** The operator must confirm before this is signed. */
  confirm: boolean;
  explanation: string;
}

export interface DraftTarget {
  name: string;
  selector: number;
}

/** Every target of a draft: the set's members, or its one target. */
export function draftTargets(draft: Pick<Draft, 'target' | 'selector' | 'targets'>): DraftTarget[] {
  return draft.targets?.length ? draft.targets : [{ name: draft.target, selector: draft.selector }];
}

/** Envelope kind 'draft': the request with the router's draft, for the signer. */
export interface RoutedIntent extends IntentRequest {
  draft: Draft;
}

export type AbstainReason =
  | 'out-of-scope'
  | 'ambiguous'
  | 'negated'
  | 'excluded-target'
  | 'missing-argument'
  | 'no-target'
  | 'unknown-target'
  | 'target-takes-no-commands'
  | 'backend-unavailable'
  | 'rejected-answer';

/** The router declines: nothing is proposed. `suggestions` are phrasings that would route. */
export interface Abstention {
  intent: null;
  reason: AbstainReason;
  explanation: string;
  suggestions: string[];
}

export type RouteResult = Draft | Abstention;

export function isDraft(result: RouteResult): result is Draft {
  return result.intent !== null;
}
