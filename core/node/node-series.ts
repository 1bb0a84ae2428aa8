// Series named after what particular stages do, for the questions operators ask first: how many
// commands did the verifier reject and why, what did the diode block, who joined and who was
// refused. Read at scrape time from the stages' own counters (drops by reason, genesis's
// 'join-<outcome>.<reason>'), so they agree with `ppn status`.
import { stageCounters, type StageCounter } from '../runtime/host-metrics.js';
import type { Host } from '../runtime/host.js';
import type { Labels } from '../runtime/node-metrics.js';

const DROPS_AS: Record<string, { name: string; help: string }> = {
  verifier: { name: 'ppn_verifier_rejections_total', help: 'Command packets the verifier rejected, by reason' },
  'pointsav-link': { name: 'ppn_diode_blocks_total', help: 'Packets the diode (pointsav-link) blocked, by reason' },
};

export function registerNodeSeries(host: Host): void {
  const m = host.metrics;
  for (const [type, { name, help }] of Object.entries(DROPS_AS)) {
    m.collect('counter', name, help, ['reason'], () => sumBy(stageCounters(host).filter((c) => c.type === type && c.name.startsWith('dropped.')), (c) => c.name.slice('dropped.'.length)));
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
