// One node's observability, in-process and with `ppn run`: the reload error clears after a good
// reload, /metrics on the control endpoint and on an opt-in scrape address (token or loopback),
// internal events (one call logs and counts), `ppn status` wording for peers, log formats.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { statusLines } from '../../core/cli/status-view.js';
import { CONTROL_FILE, METRICS_TOKEN_FILE, startControlServer, type ControlEndpoint } from '../../core/runtime/control-server.js';
import { registerNodeSeries } from '../../core/node/node-series.js';
import { registerHostMetrics } from '../../core/runtime/host-metrics.js';
import type { Host, HostStatus } from '../../core/runtime/host.js';
import { createLogStream, prettyLogStream } from '../../core/runtime/log-stream.js';
import { createNodeMetrics } from '../../core/runtime/node-metrics.js';
import { collect, scratchDir, startTestHost, writePipeline } from '../support/pipeline.js';
import { CLI, parseMetrics, seriesValue } from './support.js';

const graph = (perSecond: number) => ({
  role: 'test',
  node: { name: 'obs-test' },
  stages: {
    source: { type: 'generate', config: { perSecond } },
    sink: { type: 'log-sink', inputs: ['source'], config: { level: 'debug' } },
  },
});

describe('node observability', function () {
  this.timeout(30_000);
  let host: Host | undefined;
  let control: ControlEndpoint | undefined;
  afterEach(async () => {
    await control?.close();
    await host?.stop(Date.now() + 2000);
    host = control = undefined;
  });

  it('clears "last reload error" after a reload that succeeds', async () => {
    const file = writePipeline(scratchDir('obs-reload'), graph(100));
    host = await startTestHost(file);
    writeFileSync(file, '{ "role": ');
    expect((await host.reload()).ok).to.equal(false);
    expect(host.status().reloads.lastError).to.match(/invalid JSON/);
    writePipeline(join(file, '..'), graph(200));
    expect((await host.reload()).ok).to.equal(true);
    expect(host.status().reloads).to.include({ count: 1, failed: 1, lastError: null });
    expect(statusLines(host.status()).join('\n')).to.not.include('last reload error');
  });

  it('serves /metrics with the stages, reloads and log series, parsed as Prometheus text', async () => {
    const file = writePipeline(scratchDir('obs-metrics'), graph(500));
    host = await startTestHost(file);
    registerHostMetrics(host, () => ({ written: 7, dropped: { full: 2, closed: 0, error: 0 } }));
    control = await startControlServer(host, { port: 0 });
    const token = JSON.parse(readFileSync(join(host.instanceDir, CONTROL_FILE), 'utf8')).token;
    const scrape = async () => {
      const res = await fetch(`http://127.0.0.1:${control!.port}/metrics`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).to.equal(200);
      return parseMetrics(await res.text());
    };
    const out = collect(host, 'sink');
    await out.waitFor(5);
    const first = await scrape();
    const delivered = { stage: 'sink', type: 'log-sink', outcome: 'delivered' };
    expect(first.get('ppn_stage_envelopes_total')!.type).to.equal('COUNTER');
    await out.waitFor(out.items.length + 20);
    const second = await scrape();
    expect(seriesValue(second, 'ppn_stage_envelopes_total', delivered)).to.be.greaterThan(seriesValue(first, 'ppn_stage_envelopes_total', delivered));
    expect(seriesValue(second, 'ppn_log_lines_dropped_total', { reason: 'full' })).to.equal(2);
    expect(seriesValue(second, 'ppn_reloads_total', { result: 'ok' })).to.equal(0);
    await host.reload();
    expect(seriesValue(await scrape(), 'ppn_reloads_total', { result: 'ok' })).to.equal(1);
    expect((await fetch(`http://127.0.0.1:${control.port}/metrics`)).status).to.equal(401);
  });

  it('serves /metrics on an opt-in scrape address: loopback without a token, elsewhere only with metrics.token', async () => {
    const file = writePipeline(scratchDir('obs-scrape'), graph(10));
    host = await startTestHost(file);
    control = await startControlServer(host, { port: 0, scrape: { host: '0.0.0.0', port: 0 } });
    const port = control.scrapePort!;
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).to.equal(200);
    expect((await fetch(`http://127.0.0.1:${port}/status`)).status).to.equal(404);
    // Another address of this machine, so the request does not come from loopback.
    const { networkInterfaces } = await import('node:os');
    const lan = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
    if (!lan) return console.log('      (no non-loopback IPv4 address here: the token half is not checked)');
    expect((await fetch(`http://${lan}:${port}/metrics`)).status).to.equal(401);
    const token = readFileSync(join(host.instanceDir, METRICS_TOKEN_FILE), 'utf8').trim();
    const res = await fetch(`http://${lan}:${port}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).to.equal(200);
    expect(await res.text()).to.not.include(token);
  });

  it("names the verifier's rejections, the diode's blocks and genesis's joins by reason", async () => {
    const stages = {
      verifier: { type: 'verifier', counters: { delivered: 5, 'dropped.command-replay': 2, 'dropped.command-tag': 1 } },
      link: { type: 'pointsav-link', counters: { 'dropped.link-not-authority': 3 } },
      genesis: { type: 'genesis', counters: { 'join-granted': 4, 'join-refused.bad-token': 1, 'join-pending': 2 } },
    };
    const fake = { metrics: createNodeMetrics(), status: () => ({ stages }) } as unknown as Host;
    registerNodeSeries(fake);
    const families = parseMetrics(await fake.metrics.text());
    expect(seriesValue(families, 'ppn_verifier_rejections_total', { reason: 'replay' })).to.equal(2);
    expect(seriesValue(families, 'ppn_verifier_rejections_total', { reason: 'tag' })).to.equal(1);
    expect(seriesValue(families, 'ppn_diode_blocks_total', { reason: 'not-authority' })).to.equal(3);
    expect(seriesValue(families, 'ppn_genesis_joins_total', { outcome: 'granted', reason: '' })).to.equal(4);
    expect(seriesValue(families, 'ppn_genesis_joins_total', { outcome: 'refused', reason: 'bad-token' })).to.equal(1);
    stages.verifier.counters['dropped.command-replay'] = 7;
    expect(seriesValue(parseMetrics(await fake.metrics.text()), 'ppn_verifier_rejections_total', { reason: 'replay' })).to.equal(7);
  });

  it('logs and counts an internal event in one call', () => {
    const metrics = createNodeMetrics();
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
    const refused = metrics.counter('ppn_test_refusals_total', 'test refusals', ['reason']);
    metrics.event(logger, { counter: refused, labels: { reason: 'bad-tag' }, level: 'warn', msg: 'refused' });
    metrics.event(logger, { counter: refused, labels: { reason: 'bad-tag' }, level: 'warn', msg: 'refused', log: false });
    expect(lines.map((l) => JSON.parse(l))).to.have.length(1);
    expect(JSON.parse(lines[0])).to.include({ reason: 'bad-tag', msg: 'refused', level: 40 });
    return metrics.text().then((text) => expect(seriesValue(parseMetrics(text), 'ppn_test_refusals_total', { reason: 'bad-tag' })).to.equal(2));
  });

  it('says in words which peer has no session, with endpoint, path, handshake, bytes and RTT', () => {
    const now = Date.parse('2026-12-01T12:00:00Z');
    const status = {
      node: 'admin', role: 'os-network-admin', file: '/p.json', startedAt: 'x', inflight: 0,
      reloads: { count: 0, failed: 0, lastAt: null, lastError: null }, drops: {}, stages: {}, services: ['node', 'mesh'], config: {},
      serviceStatus: {
        node: { nodeId: 10, address: '10.8.0.10', listen: '127.0.0.1:5000', epoch: 0, peerNames: { K1: { name: 'hub', address: '10.8.0.1' }, K2: { name: 'leased', address: '10.8.0.3' } } },
        mesh: {
          mode: 'userspace', address: '10.8.0.10', port: 5000, drops: { 'bad-mac': 0 },
          peers: [
            { publicKey: 'K1', endpoint: '127.0.0.1:5001', state: 'up', lastHandshake: now - 12_000, rxBytes: 2048, txBytes: 100 },
            { publicKey: 'K2', state: 'handshaking', rxBytes: 0, txBytes: 148 },
          ],
          paths: { peers: [{ name: 'hub', address: '10.8.0.1', path: 'direct', endpoint: '127.0.0.1:5001', rttMs: 0.4 }] },
        },
      },
    } as unknown as HostStatus;
    const text = statusLines(status, now).join('\n');
    const lines = text.split('\n').map((l) => l.replace(/ +/g, ' '));
    expect(lines).to.include(' hub 10.8.0.1 session up endpoint 127.0.0.1:5001 path direct handshake 12 s ago rx 2.0 KiB tx 100 B rtt 0.4 ms');
    expect(lines).to.include(' leased 10.8.0.3 SESSION DOWN (handshaking, no answer yet) endpoint unknown handshake never rx 0 B tx 148 B');
  });

  it('formats log lines with pino-pretty through the same never-blocking stream', async () => {
    const written: string[] = [];
    const inner = { write: (l: string) => void written.push(l), counters: () => ({ written: written.length, dropped: { full: 0, closed: 0, error: 0 } }) };
    const pretty = await prettyLogStream(inner, false);
    pino({ level: 'info' }, pretty).info({ node: 'onprem' }, 'pipeline running');
    expect(written).to.have.length(1);
    expect(written[0]).to.match(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: pipeline running \{"node":"onprem"\}\n$/);
    expect(createLogStream).to.be.a('function');
  });

  it('`ppn run` writes JSON lines to a pipe, and pretty lines with --log-format pretty', async () => {
    const file = writePipeline(scratchDir('obs-format'), graph(1));
    const firstLine = (args: string[]) =>
      new Promise<string>((resolve, reject) => {
        const child = spawn(process.execPath, [CLI, 'run', file, '--no-watch', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
        child.once('error', reject);
        createInterface({ input: child.stdout }).once('line', (line) => {
          child.kill('SIGTERM');
          resolve(line);
        });
      });
    expect(JSON.parse(await firstLine([]))).to.include({ level: 30, msg: 'stage started' });
    expect(await firstLine(['--log-format', 'pretty'])).to.match(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: stage started /);
  });
});
