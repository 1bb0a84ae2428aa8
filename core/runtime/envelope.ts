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

export function createEnvelope<B>(
  kind: string,
  body: B,
  meta: Record<string, unknown> = {},
  ...listeners: SettleListener[]
): Envelope<B> {
  const id = `${idPrefix}-${(++sequence).toString(36)}`;
  let settled = false;
  const view = <V>(kind: string, body: V, meta: Record<string, unknown>): Envelope<V> => {
    const env: Envelope<V> = {
      id,
      kind,
      body,
      meta,
      get settled() {
        return settled;
      },
      settle(outcome) {
        if (settled) return false;
        settled = true;
        for (const l of listeners) l(env, outcome);
        return true;
      },
      with(changes) {
        return view(changes.kind ?? kind, 'body' in changes ? changes.body : (body as any), changes.meta ?? meta);
      },
    };
    return env;
  };
  return view(kind, body, meta);
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
