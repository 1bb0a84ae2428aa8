// Bounds how often one kind of event is logged, so a flood of bad input cannot flood the log;
// the events themselves are still counted by whoever calls it.
export function logSampler(perMinute: number, now: () => number = Date.now): { allow(key: string): boolean } {
  const seen = new Map<string, { minute: number; count: number }>();
  return {
    allow(key) {
      const minute = Math.floor(now() / 60_000);
      const entry = seen.get(key);
      const count = entry?.minute === minute ? entry.count + 1 : 1;
      seen.set(key, { minute, count });
      return count <= perMinute;
    },
  };
}
