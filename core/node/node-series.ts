// Series named after what particular stages do, for the questions operators ask first: how many
// commands did the verifier reject and why, what did the diode block, who joined and who was
// refused. Read at scrape time from the stages' own counters (drops by reason, genesis's
// 'join-<outcome>.<reason>'), so they agree with `ppn status`.
import { stageCounters, type StageCounter } from '../runtime/host-metrics.js';
import type { Host } from '../runtime/host.js';
import type { Labels } from '../runtime/node-metrics.js';

/** Drops of a stage type whose reason starts with `prefix`, by the rest of it (the log's word). */
const DROPS_AS: Record<string, { name: string; help: string; prefix: string }> = {
  verifier: { name: 'ppn_verifier_rejections_total', help: 'Command packets the verifier rejected, by reason (replay, tag, …)', prefix: 'dropped.command-' },
  'pointsav-link': { name: 'ppn_diode_blocks_total', help: 'Packets the diode (pointsav-link) blocked, by reason (not-authority, …)', prefix: 'dropped.link-' },
};

export function registerNodeSeries(host: Host): void {
  const m = host.metrics;
  for (const [type, { name, help, prefix }] of Object.entries(DROPS_AS)) {
    m.collect('counter', name, help, ['reason'], () => sumBy(stageCounters(host).filter((c) => c.type === type && c.name.startsWith(prefix)), (c) => c.name.slice(prefix.length)));
  }
  m.collect('counter', 'ppn_genesis_joins_total', 'Join requests the authority answered, by outcome (granted, pending, refused, rejected) and reason', ['outcome', 'reason'], () =>
    stageCounters(host)
      .filter((c) => c.type === 'genesis' && c.name.startsWith('join-'))
      .map(({ name, value }): [Labels, number] => {
        const [outcome, reason = ''] = name.slice('join-'.length).split('.', 2);
        return [{ outcome, reason }, value];
      }),
  );
}

function sumBy(items: StageCounter[], key: (c: StageCounter) => string): [Labels, number][] {
  const sums = new Map<string, number>();
  for (const item of items) sums.set(key(item), (sums.get(key(item)) ?? 0) + item.value);
  return [...sums].map(([reason, n]) => [{ reason }, n]);
}
