// The envelope ledger: every envelope a host's stages create is tracked here until it is settled,
// with the stage it is at, so its outcome is counted on that stage and drops are counted by reason.
import { fork, type Envelope, type Outcome, type SettleListener } from './envelope.js';
import { createMetrics, type StageMetrics } from './metrics.js';

export interface Ledger {
  /** The listener every tracked envelope is created with. */
  readonly onSettled: SettleListener;
  /** Records a new envelope, created at stage `stageId`. */
  track(env: Envelope, stageId: string): void;
  /** The envelope is now at stage `stageId`: its outcome counts there. */
  at(env: Envelope, stageId: string): void;
  /** Copies of `parent` for each consumer; the parent's own outcome is not counted twice. */
  fork(parent: Envelope, count: number): Envelope[];
  metricsOf(stageId: string): StageMetrics;
  /** Envelopes not settled yet. */
  readonly inflight: number;
  drops(): Record<string, number>;
  /** Resolves when nothing is in flight, or at `deadline` (ms since the epoch). */
  drained(deadline: number): Promise<void>;
  /** Settles everything still in flight as failed. */
  failAll(error: string): void;
}

export function createLedger(): Ledger {
  const metrics = new Map<string, StageMetrics>();
  const inflight = new Map<string, Envelope>();
  const location = new Map<string, string>();
  const forkedParents = new Set<string>();
  const drops = new Map<string, number>();
  let onDrained: (() => void) | null = null;

  const metricsOf = (id: string) => {
    let m = metrics.get(id);
    if (!m) metrics.set(id, (m = createMetrics()));
    return m;
  };

  const countOutcome = (id: string | undefined, outcome: Outcome) => {
    const m = id ? metricsOf(id) : undefined;
    if (outcome.status === 'dropped') {
      drops.set(outcome.reason, (drops.get(outcome.reason) ?? 0) + 1);
      m?.count(`dropped.${outcome.reason}`);
    } else {
      m?.count(outcome.status);
    }
  };

  const onSettled: SettleListener = (env, outcome) => {
    inflight.delete(env.id);
    if (!forkedParents.delete(env.id)) countOutcome(location.get(env.id), outcome);
    location.delete(env.id);
    if (inflight.size === 0) onDrained?.();
  };

  return {
    onSettled,
    track(env, stageId) {
      location.set(env.id, stageId);
      inflight.set(env.id, env);
    },
    at(env, stageId) {
      if (!env.settled) location.set(env.id, stageId);
    },
    fork(parent, count) {
      forkedParents.add(parent.id);
      return fork(parent, count, onSettled);
    },
    metricsOf,
    get inflight() {
      return inflight.size;
    },
    drops: () => Object.fromEntries(drops),
    async drained(deadline) {
      if (inflight.size === 0) return;
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((r) => {
        onDrained = r;
        timer = setTimeout(r, Math.max(0, deadline - Date.now()));
      });
      onDrained = null;
      clearTimeout(timer);
    },
    failAll(error) {
      for (const env of [...inflight.values()]) env.settle({ status: 'failed', error });
    },
  };
}
