// Heartbeats across processes (issue 14 item 3): the local mesh (four `ppn run` nodes over
// userspace WireGuard) with the shipped roles, the nodes' report interval cut to 1 s. Leased's
// reports arrive with its facts; `report-telemetry` answers them; then leased is stopped and its
// health turns stale, then down, in F8's /v1/nodes and in `ppn nodes list`. Waits by polling the
// API and the CLI, never by sleeping a fixed time. Spawns the multi-process mesh: run under the lock.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../../core/project-root.js';
import type { LocalNode } from '../../examples/local-mesh/fleet.js';
import type { RunningMesh } from '../../examples/local-mesh/launch.js';
import { startLocalMesh } from '../support/local-mesh.js';

const EVERY_SECONDS = 1;

describe('telemetry: heartbeats over the local mesh (4 processes)', function () {
  this.timeout(90_000);
  let mesh: RunningMesh;
  let nodes: LocalNode[];
  const admin = () => nodes.find((n) => n.role === 'os-network-admin')!;

  before(async () => {
    ({ mesh, nodes } = await startLocalMesh('telemetry-heartbeat', (n, pipeline) => {
      if (n.role !== 'os-network-admin') pipeline.stages.report.config = { ...pipeline.stages.report.config, everySeconds: EVERY_SECONDS };
    }));
  });
  afterEach(function () {
    if (this.currentTest?.state !== 'failed') return;
    for (const [name, r] of mesh.nodes) console.log(`--- ${name}\n${r.logs.slice(-80).map((l) => JSON.stringify(l)).join('\n')}`);
  });
  after(async () => mesh && (await mesh.stop()));

  const api = async (path: string, body?: object) => {
    const res = await fetch(`${mesh.f8Url}${path}`, {
      method: body ? 'POST' : 'GET',
      headers: { authorization: `Bearer ${mesh.f8Token}`, 'content-type': 'application/json' },
      ...(body && { body: JSON.stringify(body) }),
    });
    return (await res.json()) as any;
  };
  const leasedApi = async () => ((await api('/v1/nodes')).nodes as any[]).find((n) => n.name === 'leased');
  /** The health column of leased's row in `ppn nodes list`. */
  const leasedCli = async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [join(projectRoot(), 'dist/core/cli/main.js'), 'nodes', 'list', '--instance', admin().instanceDir]);
    const [head, ...rows] = stdout.trimEnd().split('\n');
    const column = head.indexOf('health');
    const row = rows.find((r) => / leased /.test(r))!;
    return { health: row.slice(column).split(/\s+/)[0], row, head };
  };
  /** Polls `read` until `done` holds for its value; returns every value seen on the way. */
  const until = async <T>(read: () => Promise<T>, done: (v: T) => boolean, what: string, timeoutMs = 30_000): Promise<T[]> => {
    const seen: T[] = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await read();
      seen.push(v);
      if (done(v)) return seen;
      if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms; last ${JSON.stringify(v)}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  };

  it("takes leased's reports: health up, its facts (version, stages, peers and paths) in /v1/nodes and in ppn nodes list", async () => {
    const [first] = (await until(leasedApi, (n) => n.report?.facts?.peers?.length > 0 && n.health.state === 'up', "leased's first report")).slice(-1);
    expect(first.health).to.deep.equal({ state: 'up', staleAfterMs: 3000 * EVERY_SECONDS, downAfterMs: 10_000 * EVERY_SECONDS });
    const facts = first.report.facts;
    expect(facts.everySeconds).to.equal(EVERY_SECONDS);
    expect(facts.version).to.equal(JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8')).version);
    expect(facts.stages).to.include({ report: 'running', executor: 'running', telemetry: 'running' });
    expect(facts.rssBytes).to.be.above(0);
    expect(facts.peers.map((p: { name: string }) => p.name)).to.include('cloud-relay');
    for (const p of facts.peers) expect(p.path, p.name).to.be.oneOf(['direct', 'relayed', 'none']);
    // Reports keep coming: the sequence moves on.
    await until(leasedApi, (n) => n.report.seq > first.report.seq, 'a later report');
    // Every node's reports were taken; none was refused in normal operation.
    const control = JSON.parse(readFileSync(join(admin().instanceDir, 'control.json'), 'utf8'));
    const status = (await (await fetch(`${control.url}/status`, { headers: { authorization: `Bearer ${control.token}` } })).json()) as any;
    const counters = status.stages.telemetry.counters as Record<string, number>;
    expect(counters.reports).to.be.above(0);
    expect(Object.keys(counters).filter((k) => k.startsWith('report-'))).to.deep.equal([]);
    const cli = await until(leasedCli, (c) => c.health === 'up', 'ppn nodes list: leased up');
    expect(cli.at(-1)!.head).to.match(/health +uptime +load +mem +disk +peers$/);
    expect(cli.at(-1)!.row).to.match(/ up +\d+s +[\d.]+ +\d+M +[\d.]+G +.*(direct|relayed)/);
  });

  it('answers report-telemetry with the facts (JSON within the ack)', async () => {
    const sent = await api('/v1/intents', { text: 'report telemetry on leased' });
    expect(sent.draft).to.include({ intent: 'report-telemetry', target: 'leased' });
    const [record] = (await until(() => api(`/v1/commands/${sent.id}`), (c) => c.targets[0].status !== 'sent', 'the ack')).slice(-1);
    expect(record.targets[0].status).to.equal('executed');
    const summary = JSON.parse(record.targets[0].detail);
    expect(summary).to.include.keys('v', 'up', 'load', 'rssMB', 'stages', 'down', 'drops', 'peers');
    expect(summary.down).to.deep.equal([]);
  });

  it('turns leased stale, then down, once it is stopped: in /v1/nodes and in ppn nodes list', async () => {
    const leased = mesh.nodes.get('leased')!.process;
    await new Promise((resolve) => {
      leased.once('exit', resolve);
      leased.kill('SIGTERM');
    });
    const stale = await until(leasedApi, (n) => n.health.state !== 'up', 'leased no longer up');
    expect(stale.at(-1).health.state).to.equal('stale');
    expect((await until(leasedCli, (c) => c.health !== 'up', 'ppn nodes list: leased no longer up')).at(-1)!.health).to.equal('stale');
    await until(leasedApi, (n) => n.health.state === 'down', 'leased down');
    expect((await until(leasedCli, (c) => c.health === 'down', 'ppn nodes list: leased down')).at(-1)!.health).to.equal('down');
    // onprem kept reporting all along.
    expect(((await api('/v1/nodes')).nodes as any[]).find((n) => n.name === 'onprem').health.state).to.equal('up');
  });
});
