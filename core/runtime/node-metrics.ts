// The node's one metrics registry (prom-client), served as Prometheus text at the control
// endpoint's /metrics. Two kinds of series live in it:
// - live ones, moved as things happen: `counter`/`histogram` here, and `event`, which logs a line
//   and counts it in one call (Vector's "internal events": a log line and its count cannot drift);
// - collected ones, read at scrape time from figures the node already keeps (stage counters,
//   drops, reloads, the mesh's peers): `collect` registers a function that sets them.
// Why prom-client and not hand-written text: it is the exposition format's reference client for
// Node (escaping, HELP/TYPE lines, histogram buckets, label validation), see docs/operating.md.
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export type Labels = Record<string, string | number>;

/** A counted event: the counter it moves and the log line it writes. */
export interface InternalEvent {
  counter: Counter<string>;
  labels: Labels;
  level: 'info' | 'warn' | 'error' | 'debug';
  msg: string;
  fields?: Record<string, unknown>;
  /** When false the count still moves but the line is not written (a log sampler said no). */
  log?: boolean;
}

export interface NodeMetrics {
  readonly registry: Registry;
  counter(name: string, help: string, labelNames?: readonly string[]): Counter<string>;
  gauge(name: string, help: string, labelNames?: readonly string[]): Gauge<string>;
  histogram(name: string, help: string, labelNames: readonly string[], buckets: number[]): Histogram<string>;
  /** Logs the event's line and counts it: one call, so the two always agree. */
  event(logger: Logger, event: InternalEvent): void;
  /**
   * Series read at scrape time: `read` is called on each scrape and gives the current values
   * (label sets → number) of a counter or gauge that the node already keeps elsewhere.
   */
  collect(kind: 'counter' | 'gauge', name: string, help: string, labelNames: readonly string[], read: () => Iterable<[Labels, number]>): void;
  /**
   * `fn` runs before each scrape: a live series whose events are only known by time (a deadline
   * passing) is brought up to date, so a scrape never lags what the node already answers.
   */
  beforeScrape(fn: () => void): () => void;
  /** The exposition text (Prometheus text format 0.0.4). */
  text(): Promise<string>;
  readonly contentType: string;
}

export function createNodeMetrics(): NodeMetrics {
  const registry = new Registry();
  const beforeScrape = new Set<() => void>();
  // A metric asked for twice (a service recreated by a reload) is the same series, not an error.
  const existing = <M>(name: string, make: () => M): M => (registry.getSingleMetric(name) as M | undefined) ?? make();
  return {
    registry,
    counter: (name, help, labelNames = []) => existing(name, () => new Counter({ name, help, labelNames, registers: [registry] })),
    gauge: (name, help, labelNames = []) => existing(name, () => new Gauge({ name, help, labelNames, registers: [registry] })),
    histogram: (name, help, labelNames, buckets) => existing(name, () => new Histogram({ name, help, labelNames, buckets, registers: [registry] })),
    event(logger, e) {
      e.counter.inc(e.labels);
      if (e.log !== false) logger[e.level]({ ...e.labels, ...e.fields }, e.msg);
    },
    collect(kind, name, help, labelNames, read) {
      registry.removeSingleMetric(name);
      const Kind = kind === 'counter' ? Counter : Gauge;
      new Kind({
        name,
        help,
        labelNames,
        registers: [registry],
        collect() {
          // Values are the node's own running totals: set, not added to.
          this.reset();
          for (const [labels, value] of read()) {
            if (this instanceof Counter) this.inc(labels, value);
            else (this as Gauge<string>).set(labels, value);
          }
        },
      });
    },
    beforeScrape(fn) {
      beforeScrape.add(fn);
      return () => beforeScrape.delete(fn);
    },
    text() {
      for (const fn of beforeScrape) fn();
      return registry.metrics();
    },
    contentType: registry.contentType,
  };
}
