// The host's figures as Prometheus series, read from host.status() at scrape time: what each
// stage did with envelopes (by outcome, drops by reason), what it counted itself, the log.
// Reloads are counted live, by the host; series named after particular stage types are the
// node's (core/node/node-series.ts).
import type { Host } from './host.js';
import type { Labels } from './node-metrics.js';

type Series = [Labels, number][];

export interface StageCounter {
  stage: string;
  type: string;
  name: string;
  value: number;
}

/** Every counter of every stage, as one list. */
export function stageCounters(host: Pick<Host, 'status'>): StageCounter[] {
  return Object.entries(host.status().stages).flatMap(([stage, s]) => Object.entries(s.counters).map(([name, value]) => ({ stage, type: s.type, name, value })));
}

export function registerHostMetrics(host: Host, log?: () => { written: number; dropped: Record<string, number> }): void {
  const m = host.metrics;
  m.collect('counter', 'ppn_stage_envelopes_total', 'Envelopes settled at a stage, by outcome (delivered, failed, dropped)', ['stage', 'type', 'outcome'], () =>
    stageCounters(host).flatMap(({ stage, type, name, value }): Series => {
      if (name === 'delivered' || name === 'failed') return [[{ stage, type, outcome: name }, value]];
      return [];
    }).concat(dropTotals(stageCounters(host))),
  );
  m.collect('counter', 'ppn_stage_drops_total', 'Envelopes dropped at a stage, by reason', ['stage', 'type', 'reason'], () =>
    stageCounters(host).flatMap(({ stage, type, name, value }): Series => (name.startsWith('dropped.') ? [[{ stage, type, reason: name.slice(8) }, value]] : [])),
  );
  m.collect('counter', 'ppn_stage_events_total', "What a stage counted itself (its own counter names, e.g. 'signed', 'join-granted')", ['stage', 'type', 'event'], () =>
    stageCounters(host).flatMap(({ stage, type, name, value }): Series =>
      name === 'delivered' || name === 'failed' || name.startsWith('dropped.') ? [] : [[{ stage, type, event: name }, value]],
    ),
  );
  m.collect('gauge', 'ppn_envelopes_in_flight', 'Envelopes not yet settled', [], () => [[{}, host.status().inflight]]);
  if (log) {
    m.collect('counter', 'ppn_log_lines_total', 'Log lines written to stdout', [], () => [[{}, log().written]]);
    m.collect('counter', 'ppn_log_lines_dropped_total', 'Log lines dropped rather than wait on stdout, by reason', ['reason'], () => Object.entries(log().dropped).map(([reason, n]): [Labels, number] => [{ reason }, n]));
  }
}

function dropTotals(counters: StageCounter[]): Series {
  const byStage = new Map<string, { type: string; n: number }>();
  for (const c of counters.filter((c) => c.name.startsWith('dropped.'))) {
    const entry = byStage.get(c.stage) ?? { type: c.type, n: 0 };
    entry.n += c.value;
    byStage.set(c.stage, entry);
  }
  return [...byStage].map(([stage, { type, n }]) => [{ stage, type, outcome: 'dropped' }, n]);
}
