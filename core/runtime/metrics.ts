// Counters a stage (and the host on its behalf) keeps; shown by `ppn status`.

export interface StageMetrics {
  count(name: string, by?: number): void;
  snapshot(): Record<string, number>;
}

export function createMetrics(): StageMetrics {
  const counters = new Map<string, number>();
  return {
    count(name, by = 1) {
      counters.set(name, (counters.get(name) ?? 0) + by);
    },
    snapshot() {
      return Object.fromEntries([...counters].sort(([a], [b]) => a.localeCompare(b)));
    },
  };
}
