// The unit that flows between stages. Every envelope is settled exactly once; whoever created it
// (an ingress stage answering its caller, the host counting outcomes) hears the outcome.

/** `detail` carries what the caller should hear back (an ingress stage answers from it). */
export type Outcome =
  | { status: 'delivered'; detail?: Record<string, unknown> }
  | { status: 'dropped'; reason: string; detail?: Record<string, unknown> }
  | { status: 'failed'; error: string; detail?: Record<string, unknown> };

export interface Envelope<B = unknown> {
  readonly id: string;
  readonly kind: string;
  readonly body: B;
  readonly meta: Record<string, unknown>;
  readonly settled: boolean;
  /** True the first time; later calls (on this envelope or any `with` of it) change nothing. */
  settle(outcome: Outcome): boolean;
  /** The same envelope (same id, one settlement) carrying a new kind, body or meta. */
  with<B2 = B>(changes: { kind?: string; body?: B2; meta?: Record<string, unknown> }): Envelope<B2>;
}

export type SettleListener = (env: Envelope, outcome: Outcome) => void;

let sequence = 0;
const idPrefix = `${process.pid.toString(36)}-${Date.now().toString(36)}`;

/** What all views of one envelope share: its id and its single settlement. */
interface Settlement {
  readonly id: string;
  settled: boolean;
  readonly listeners: SettleListener[];
}

// A class rather than closures: envelopes are made by the hundred thousand per second, and a
// view per stage that changes one shares everything but kind, body and meta.
class EnvelopeView<B> implements Envelope<B> {
  constructor(
    private readonly settlement: Settlement,
    readonly kind: string,
    readonly body: B,
    readonly meta: Record<string, unknown>,
  ) {}

  get id(): string {
    return this.settlement.id;
  }

  get settled(): boolean {
    return this.settlement.settled;
  }

  settle(outcome: Outcome): boolean {
    const s = this.settlement;
    if (s.settled) return false;
    s.settled = true;
    for (const l of s.listeners) l(this, outcome);
    return true;
  }

  with<B2 = B>(changes: { kind?: string; body?: B2; meta?: Record<string, unknown> }): Envelope<B2> {
    const body = 'body' in changes ? (changes.body as B2) : (this.body as unknown as B2);
    return new EnvelopeView<B2>(this.settlement, changes.kind ?? this.kind, body, changes.meta ?? this.meta);
  }
}

export function createEnvelope<B>(
  kind: string,
  body: B,
  meta: Record<string, unknown> = {},
  ...listeners: SettleListener[]
): Envelope<B> {
  const settlement: Settlement = { id: `${idPrefix}-${(++sequence).toString(36)}`, settled: false, listeners };
  return new EnvelopeView(settlement, kind, body, meta);
}

/**
 * Copies of one envelope for several consumers. The parent settles once every copy has:
 * delivered if any copy was delivered, otherwise with the first copy's outcome.
 */
export function fork<B>(parent: Envelope<B>, count: number, ...listeners: SettleListener[]): Envelope<B>[] {
  let pending = count;
  let firstOutcome: Outcome | undefined;
  let delivered = false;
  const onChild: SettleListener = (_child, outcome) => {
    firstOutcome ??= outcome;
    if (outcome.status === 'delivered') delivered = true;
    if (--pending === 0) parent.settle(delivered ? { status: 'delivered' } : firstOutcome!);
  };
  return Array.from({ length: count }, () =>
    createEnvelope(parent.kind, parent.body, { ...parent.meta, forkOf: parent.id }, onChild, ...listeners),
  );
}
