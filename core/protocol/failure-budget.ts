// Per-source budget of failed tag checks (a token bucket per source address). Every failure a
// source causes spends one token; tokens come back at `perSecond`, up to `burst`. A source with
// no token left has its packets dropped before any check, so they are never counted against the
// epoch's failed-tag cap: at the defaults (10/s) one source needs 29 hours, not seconds, to
// retire a key at the spec's cap of 2^20. Packets that pass cost nothing, so the real
// authority's commands go through until a forger from the same address exhausts the budget.
export interface FailureBudgetOptions {
  /** Failures per second each source may cause once its burst is spent. */
  perSecond: number;
  /** Failures a quiet source may cause at once. */
  burst: number;
  /** Sources remembered at most; beyond it the least recently seen is forgotten. */
  maxSources?: number;
  now?: () => number;
}

export interface FailureBudget {
  /** False when `source` has spent its budget: drop its packet before checking it. */
  allows(source: string): boolean;
  /** `source` caused one failure. */
  spend(source: string): void;
}

export const DEFAULT_FAILURES_PER_SECOND = 10;
export const DEFAULT_FAILURE_BURST = 20;

export function createFailureBudget(options: FailureBudgetOptions): FailureBudget {
  const { perSecond, burst } = options;
  if (!(perSecond > 0) || !Number.isFinite(perSecond)) throw new RangeError(`perSecond must be a positive number, got ${perSecond}`);
  if (!Number.isInteger(burst) || burst < 1) throw new RangeError(`burst must be a positive integer, got ${burst}`);
  const maxSources = options.maxSources ?? 4096;
  const now = options.now ?? (() => performance.now());
  // Map order is insertion order: a source is re-inserted when seen, so the first is the stalest.
  const buckets = new Map<string, { tokens: number; at: number }>();

  function refilled(source: string) {
    const t = now();
    const bucket = buckets.get(source);
    if (!bucket) return { tokens: burst, at: t };
    buckets.delete(source);
    bucket.tokens = Math.min(burst, bucket.tokens + ((t - bucket.at) / 1000) * perSecond);
    bucket.at = t;
    return bucket;
  }

  return {
    allows(source) {
      const bucket = buckets.get(source);
      if (!bucket) return true;
      const tokens = Math.min(burst, bucket.tokens + ((now() - bucket.at) / 1000) * perSecond);
      return tokens >= 1;
    },
    spend(source) {
      const bucket = refilled(source);
      bucket.tokens = Math.max(0, bucket.tokens - 1);
      buckets.set(source, bucket);
      if (buckets.size > maxSources) buckets.delete(buckets.keys().next().value as string);
    },
  };
}
