// What operators' conveniences cost: pretty log lines against JSON ones (both through the
// never-blocking writer to /dev/null), and a /metrics scrape of a registry the size of a busy
// admin's (20 stages × 8 counters, 50 peers, a latency histogram over 10 intents).
import { openSync, closeSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { createLogStream, prettyLogStream } from '../core/runtime/log-stream.js';
import { createNodeMetrics, type Labels } from '../core/runtime/node-metrics.js';
import { printTable } from './table.js';

const LINES = 50_000;

async function logRun(pretty: boolean): Promise<number> {
  const fd = openSync('/dev/null', 'w');
  try {
    const raw = createLogStream(fd);
    const logger = pino({ level: 'info' }, pretty ? await prettyLogStream(raw, true) : raw);
    const start = performance.now();
    for (let i = 0; i < LINES; i++) logger.info({ node: 'onprem', stage: 'verifier', counter: i }, 'command verified');
    return performance.now() - start;
  } finally {
    closeSync(fd);
  }
}

async function scrapeRun(): Promise<{ ms: number; bytes: number; series: number }> {
  const m = createNodeMetrics();
  m.collect('counter', 'ppn_stage_events_total', 'x', ['stage', 'type', 'event'], () => {
    const out: [Labels, number][] = [];
    for (let s = 0; s < 20; s++) for (let e = 0; e < 8; e++) out.push([{ stage: `stage-${s}`, type: 'tag', event: `event-${e}` }, s * e]);
    return out;
  });
  for (const name of ['ppn_wireguard_received_bytes_total', 'ppn_wireguard_sent_bytes_total', 'ppn_wireguard_handshakes_total']) {
    m.collect('counter', name, 'x', ['peer'], () => Array.from({ length: 50 }, (_, i): [Labels, number] => [{ peer: `peer-key-${i}` }, i * 1000]));
  }
  const h = m.histogram('ppn_command_ack_seconds', 'x', ['intent'], [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);
  for (let i = 0; i < 10_000; i++) h.observe({ intent: `intent-${i % 10}` }, (i % 100) / 100);
  const rounds = 200;
  let text = '';
  const start = performance.now();
  for (let i = 0; i < rounds; i++) text = await m.text();
  return { ms: (performance.now() - start) / rounds, bytes: text.length, series: text.split('\n').filter((l) => l && !l.startsWith('#')).length };
}

export default async function run(): Promise<void> {
  await logRun(false); // warm-up
  const json = await logRun(false);
  const pretty = await logRun(true);
  printTable([
    { format: 'json', lines: LINES, ms: json, 'µs per line': (json * 1000) / LINES, ratio: 1 },
    { format: 'pretty (colour)', lines: LINES, ms: pretty, 'µs per line': (pretty * 1000) / LINES, ratio: pretty / json },
  ]);
  console.log();
  const scrape = await scrapeRun();
  printTable([{ what: '/metrics text (busy admin)', series: scrape.series, bytes: scrape.bytes, 'ms per scrape': scrape.ms }]);
}
