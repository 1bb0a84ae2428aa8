// service-slm's catalog backend: routes per second and per-request latency over the dev set's
// requests (drafts and abstentions alike), one core, plus what building a router costs.
import { performance } from 'node:perf_hooks';
import { loadCatalog } from '../core/catalog/index.js';
import { demoFleet } from '../core/contracts/index.js';
import { createCatalogRouter } from '../plugins/slm-router/catalog-router.js';
import { readLabelled } from '../test/slm-router/evaluate.js';
import { printTable } from './table.js';

const ROUNDS = 40;

export default async function bench(): Promise<void> {
  const catalog = loadCatalog();
  const fleet = demoFleet();
  const texts = readLabelled('router-dev-set.json').map((l) => l.text);
  const kinds: [string, string[]][] = [
    ['all dev-set requests', texts],
    ['short ("reboot leased")', ['reboot leased']],
    ['with typos', ['restrat the telemtry servise on leasd', 'rebot onprem', 'qurantine onprem']],
  ];

  const builds: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    createCatalogRouter(catalog, fleet);
    builds.push(performance.now() - t0);
  }

  const rows: Record<string, string | number>[] = [];
  for (const [name, set] of kinds) {
    const router = createCatalogRouter(catalog, fleet);
    for (const t of set) router.route(t); // warm-up, and typo corrections are cached from here on
    const latencies: number[] = [];
    const start = performance.now();
    for (let r = 0; r < Math.max(ROUNDS, Math.ceil(4000 / set.length)); r++) {
      for (const t of set) {
        const t0 = performance.now();
        router.route(t);
        latencies.push(performance.now() - t0);
      }
    }
    const elapsed = performance.now() - start;
    latencies.sort((a, b) => a - b);
    rows.push({
      requests: name,
      'routes/s': Math.round(latencies.length / (elapsed / 1000)),
      'p50 µs': Math.round(percentile(latencies, 0.5) * 1000),
      'p99 µs': Math.round(percentile(latencies, 0.99) * 1000),
    });
  }
  builds.sort((a, b) => a - b);
  rows.push({ requests: 'createCatalogRouter (build)', 'routes/s': '-', 'p50 µs': Math.round(percentile(builds, 0.5) * 1000), 'p99 µs': Math.round(percentile(builds, 0.99) * 1000) });
  printTable(rows);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}
