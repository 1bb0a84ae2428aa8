// Pipeline host figures: throughput of a 5-stage pass-through graph, per-stage latency, and the
// pause a stage swap causes at the sink.
import { pino } from 'pino';
import { nodePluginFolders, nodeServices } from '../core/node/services.js';
import { createPluginLoader } from '../core/runtime/plugins.js';
import { startHost, type Host } from '../core/runtime/host.js';
import { scratchDir, writePipeline } from '../test/support/pipeline.js';
import { printTable } from './table.js';

const STAGES = ['source', 's1', 's2', 's3', 'sink'];

const graph = (perSecond: number, count: number, v = 0) => ({
  role: 'bench',
  node: { name: 'bench' },
  stages: {
    source: { type: 'generate', config: { perSecond, count } },
    s1: { type: 'tag', inputs: ['source'], config: { meta: { v } } },
    s2: { type: 'tag', inputs: ['s1'], config: { meta: {} } },
    s3: { type: 'tag', inputs: ['s2'], config: { meta: {} } },
    sink: { type: 'log-sink', inputs: ['s3'], config: { level: 'debug' } },
  },
});

const start = (file: string) => startHost({ file, services: nodeServices(), loader: createPluginLoader(nodePluginFolders()), logger: pino({ level: 'silent' }) });
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];

async function untilSinkCount(host: Host, count: number): Promise<void> {
  await new Promise<void>((resolve) => {
    let n = 0;
    const sub = host.tap('sink').subscribe(() => {
      if (++n === count) {
        sub.unsubscribe();
        resolve();
      }
    });
  });
}

async function throughput(): Promise<number> {
  const N = 300_000;
  const file = writePipeline(scratchDir('bench'), graph(10_000_000, N));
  const t0 = performance.now();
  const host = await start(file);
  await untilSinkCount(host, N);
  const seconds = (performance.now() - t0) / 1000;
  await host.stop(Date.now() + 1000);
  return N / seconds;
}

async function latency(): Promise<Record<string, string | number>[]> {
  const N = 20_000;
  const file = writePipeline(scratchDir('bench'), graph(5_000, N));
  const host = await start(file);
  const seen = new Map<string, number[]>();
  const subs = STAGES.map((id, i) =>
    host.tap(id).subscribe((env) => {
      const key = env.id.split('-').pop()!;
      let times = seen.get(key);
      if (!times) seen.set(key, (times = []));
      times[i] = performance.now();
    }),
  );
  await untilSinkCount(host, N);
  subs.forEach((s) => s.unsubscribe());
  await host.stop(Date.now() + 1000);
  return STAGES.slice(1).map((id, k) => {
    const d = [...seen.values()].map((t) => (t[k + 1] - t[k]) * 1000).sort((a, b) => a - b);
    return { stage: `${STAGES[k]} -> ${id}`, 'p50 µs': percentile(d, 0.5), 'p99 µs': percentile(d, 0.99) };
  });
}

async function swapPause(): Promise<Record<string, number>> {
  const dir = scratchDir('bench');
  const file = writePipeline(dir, graph(5_000, 0));
  const host = await start(file);
  let last = performance.now();
  const gaps: number[] = [];
  let marking = false;
  const swapGaps: number[] = [];
  const sub = host.tap('sink').subscribe(() => {
    const now = performance.now();
    (marking ? swapGaps : gaps).push(now - last);
    last = now;
  });
  await untilSinkCount(host, 2_000);
  const reloadTimes: number[] = [];
  for (let v = 1; v <= 20; v++) {
    writePipeline(dir, graph(5_000, 0, v));
    marking = true;
    const t0 = performance.now();
    await host.reload();
    reloadTimes.push(performance.now() - t0);
    await untilSinkCount(host, 100);
    marking = false;
    await untilSinkCount(host, 200);
  }
  sub.unsubscribe();
  await host.stop(Date.now() + 1000);
  const sorted = [...gaps].sort((a, b) => a - b);
  const swapSorted = [...swapGaps].sort((a, b) => a - b);
  reloadTimes.sort((a, b) => a - b);
  return {
    'gap p99, steady (ms)': percentile(sorted, 0.99),
    'gap max, steady (ms)': sorted[sorted.length - 1],
    'gap max, around a swap (ms)': swapSorted[swapSorted.length - 1],
    'reload() p50 (ms)': percentile(reloadTimes, 0.5),
  };
}

export default async function bench(): Promise<void> {
  printTable([{ graph: '5 stages, pass-through (generate → tag ×3 → log-sink)', 'envelopes/s': await throughput() }]);
  console.log();
  printTable(await latency());
  console.log('\n(at 5,000 envelopes/s; the generator emits in 10 ms batches)\n');
  printTable([await swapPause()]);
}
