// service-slm's catalog backend: quality on each labelled set (in-scope accuracy, abstentions,
// wrong commands — drafts that are not what was asked — counted apart), then routes per second and
// per-request latency over the dev set's requests (drafts and abstentions alike), one core, plus
// what building a router costs.
import { performance } from 'node:perf_hooks';
import { loadCatalog } from '../core/catalog/index.js';
import { createDraftGuard, demoFleet, isDraft, type Draft } from '../core/contracts/index.js';
import { createCatalogRouter } from '../plugins/slm-router/catalog-router.js';
import { createRouter } from '../plugins/slm-router/router.js';
import { evaluate, readLabelled } from '../test/slm-router/evaluate.js';
import { printTable } from './table.js';

const ROUNDS = 40;
const SETS = ['router-dev-set.json', 'router-heldout-set.json', 'router-heldout-set-2.json', 'router-scope-dev.json', 'router-scope-heldout.json'];

export default async function bench(): Promise<void> {
  const catalog = loadCatalog();
  const fleet = demoFleet();
  // Quality through createRouter: the scope guard is part of what is measured.
  const guarded = createRouter({ backend: 'catalog' }, catalog, fleet);
  const quality: Record<string, string | number>[] = [];
  for (const name of SETS) {
    const e = await evaluate(readLabelled(name), (t) => guarded.route(t));
    quality.push({
      set: name,
      requests: e.inScope + e.outOfScope,
      'in-scope right': `${e.inScopeRight}/${e.inScope}`,
      'in-scope abstained': e.inScopeAbstained,
      'out-of-scope abstained': `${e.abstained}/${e.outOfScope}`,
      'wrong commands': e.wrongCommands,
    });
  }
  printTable(quality);
  console.log();

  const texts = readLabelled('router-dev-set.json').map((l) => l.text);
  const kinds: [string, string[]][] = [
    ['all dev-set requests', texts],
    ['short ("reboot leased")', ['reboot leased']],
    ['with typos', ['restrat the telemtry servise on leasd', 'rebot onprem', 'qurantine onprem']],
    ['scope held-out requests', readLabelled('router-scope-heldout.json').map((l) => l.text)],
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
  // The scope guard the signer runs on every draft, alone: dev-set texts with their drafts.
  const guard = createDraftGuard(catalog, fleet);
  const plain = createCatalogRouter(catalog, fleet);
  const drafts = texts.flatMap((t) => {
    const r = plain.route(t);
    return isDraft(r) ? [[t, r] as [string, Draft]] : [];
  });
  const checks: number[] = [];
  const checkStart = performance.now();
  for (let r = 0; r < ROUNDS; r++) {
    for (const [t, d] of drafts) {
      const t0 = performance.now();
      guard.check(t, d);
      checks.push(performance.now() - t0);
    }
  }
  const checkElapsed = performance.now() - checkStart;
  checks.sort((a, b) => a - b);
  rows.push({ requests: 'scope guard check (dev-set drafts)', 'routes/s': Math.round(checks.length / (checkElapsed / 1000)), 'p50 µs': Math.round(percentile(checks, 0.5) * 1000), 'p99 µs': Math.round(percentile(checks, 0.99) * 1000) });
  builds.sort((a, b) => a - b);
  rows.push({ requests: 'createCatalogRouter (build)', 'routes/s': '-', 'p50 µs': Math.round(percentile(builds, 0.5) * 1000), 'p99 µs': Math.round(percentile(builds, 0.99) * 1000) });
  printTable(rows);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}
