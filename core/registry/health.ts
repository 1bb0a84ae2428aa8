// A node's health by the age of its heartbeat: the last authenticated message the authority had
// from it (a telemetry report, or an ack), against thresholds from the node's own report
// interval — up below 3 intervals, stale below 10, down from there on. A node that has sent no
// report yet (it runs no telemetry-report stage) is judged by its last ack against the fallback
// thresholds the viewer is configured with (F8's `health`, the CLI's defaults).
export type Health = 'up' | 'stale' | 'down' | 'never';

export interface HealthThresholds {
  staleAfterMs: number;
  downAfterMs: number;
}

export const STALE_AFTER_INTERVALS = 3;
export const DOWN_AFTER_INTERVALS = 10;
/** For nodes without heartbeats: 5 and 15 minutes since the last ack. */
export const DEFAULT_HEALTH_FALLBACK: HealthThresholds = { staleAfterMs: 300_000, downAfterMs: 900_000 };

export function healthThresholds(everySeconds: number | undefined, fallback: HealthThresholds = DEFAULT_HEALTH_FALLBACK): HealthThresholds {
  if (everySeconds === undefined) return fallback;
  return { staleAfterMs: STALE_AFTER_INTERVALS * everySeconds * 1000, downAfterMs: DOWN_AFTER_INTERVALS * everySeconds * 1000 };
}

/** A last-heard time ahead of `now` (clock skew) counts as up. */
export function healthOf(lastSeen: string | undefined, now: number, { staleAfterMs, downAfterMs }: HealthThresholds): Health {
  if (!lastSeen) return 'never';
  const age = now - Date.parse(lastSeen);
  return age < staleAfterMs ? 'up' : age < downAfterMs ? 'stale' : 'down';
}

/** What F8 and `ppn nodes list` show: the label and the thresholds it was judged by. */
export function nodeHealth(node: { lastSeen?: string; report?: { facts: { everySeconds: number } } }, now: number, fallback?: HealthThresholds) {
  const thresholds = healthThresholds(node.report?.facts.everySeconds, fallback);
  return { state: healthOf(node.lastSeen, now, thresholds), ...thresholds };
}
