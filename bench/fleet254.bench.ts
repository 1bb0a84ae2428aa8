// The whole /24, measured (issue 18): a 254-node fleet (test/support/fleet-sim.ts: the admin and
// the hub as their own processes, 252 edge nodes in 4 worker processes, all joined by Genesis)
// against a 16-node one in the same run. `ping everyone` through F8: time from the POST to the
// first and the last ack the admin logs, the admin's CPU and RSS growth per command, the hub's
// CPU per command; a membership change (one node revoked) until every edge node applied it; the
// idle RSS of the admin, the hub, a worker, and one edge node as its own process (as shipped, and
// with NODE_OPTIONS=--max-semi-space-size=1).
import { readFileSync } from 'node:fs';
import { startFleetSim, type FleetSim } from '../test/support/fleet-sim.js';
import { printTable } from './table.js';

const ROUNDS = 3;
const MiB = 1024 * 1024;

const cpuMs = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime, clock ticks of 10 ms
};
const rss = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Figures {
  nodes: number;
  firstAckMs: number;
  lastAckMs: number;
  adminCpuMs: number;
  adminRssKiB: number;
  hubCpuMs: number;
  membershipMs: number;
  idle: { admin: number; hub: number; worker: number; edge: number; edgeSmallYoung: number };
}

async function ping(fleet: FleetSim, takers: number) {
  const adminPid = fleet.admin.child.pid!;
  const hubPid = fleet.hub.child.pid!;
  const [cpu0, rss0, hub0] = [cpuMs(adminPid), rss(adminPid), cpuMs(hubPid)];
  const at = Date.now();
  const answer = await fleet.f8('ping everyone');
  if (answer.status !== 200) throw new Error(`F8 answered ${answer.status}: ${JSON.stringify(answer.body).slice(0, 300)}`);
  const counter = String(answer.body.counter);
  await fleet.executed(counter, takers, 60_000);
  await fleet.admin.waitFor(() => fleet.acks(counter).length >= takers, 60_000, `${takers} acks`);
  const acks = fleet.acks(counter).map((a) => a.at - at).sort((a, b) => a - b);
  return { first: acks[0], last: acks.at(-1)!, cpu: cpuMs(adminPid) - cpu0, rss: rss(adminPid) - rss0, hub: cpuMs(hubPid) - hub0 };
}

async function measure(edges: number): Promise<Figures> {
  const fleet = await startFleetSim({ edges, syncEveryMs: 15_000 });
  try {
    // Sessions and paths settle (handshakes, direct paths proven) before anything is timed.
    await settle(10_000);
    await ping(fleet, edges);
    const runs: Awaited<ReturnType<typeof ping>>[] = [];
    for (let i = 0; i < ROUNDS; i++) runs.push(await ping(fleet, edges));
    const median = (f: (r: (typeof runs)[number]) => number) => runs.map(f).sort((a, b) => a - b)[Math.floor(runs.length / 2)];

    const [revokedId, revokedName] = [...fleet.edges].at(-1)!;
    const names = [...fleet.edges.values()].filter((n) => n !== revokedName);
    const at = Date.now();
    await fleet.ppn('nodes', 'revoke', String(revokedId), '--instance', `${fleet.root}/admin`);
    const applied = await fleet.membershipApplied(names, (u) => u.peers === names.length - 1 + 2, 120_000);

    await settle(5_000);
    const memory = await fleet.memory();
    const edge = await fleet.edgeProcess('edge-alone');
    const small = await fleet.edgeProcess('edge-small-young', '--max-semi-space-size=1');
    await settle(10_000);
    return {
      nodes: edges + 2,
      firstAckMs: median((r) => r.first),
      lastAckMs: median((r) => r.last),
      adminCpuMs: median((r) => r.cpu),
      adminRssKiB: median((r) => r.rss) / 1024,
      hubCpuMs: median((r) => r.hub),
      membershipMs: applied - at,
      idle: { admin: memory.admin, hub: memory.hub, worker: memory.workers[0].rss, edge: rss(edge.child.pid!), edgeSmallYoung: rss(small.child.pid!) },
    };
  } finally {
    await fleet.stop();
  }
}

export default async function run(): Promise<void> {
  // FLEET_BENCH_EDGES=252 for the whole /24 (it does not settle on 2 cores today: docs/fleet-limits.md).
  const small = await measure(14);
  const full = await measure(Number(process.env.FLEET_BENCH_EDGES ?? 62));
  const ratio = (f: (x: Figures) => number) => f(full) / Math.max(f(small), 1e-9);
  const row = (what: string, f: (x: Figures) => number, unit: string) => ({ figure: what, unit, [`${small.nodes} nodes`]: f(small), [`${full.nodes} nodes`]: f(full), ratio: ratio(f) });
  printTable([
    row('ping everyone: first ack', (x) => x.firstAckMs, 'ms'),
    row('ping everyone: last ack', (x) => x.lastAckMs, 'ms'),
    row('admin CPU per command', (x) => x.adminCpuMs, 'ms'),
    row('admin RSS growth per command', (x) => x.adminRssKiB, 'KiB'),
    row('hub CPU per command', (x) => x.hubCpuMs, 'ms'),
    row('membership change to every node', (x) => x.membershipMs, 'ms'),
    row('idle RSS: admin', (x) => x.idle.admin / MiB, 'MiB'),
    row('idle RSS: hub', (x) => x.idle.hub / MiB, 'MiB'),
    row('idle RSS: worker (a quarter of the edges)', (x) => x.idle.worker / MiB, 'MiB'),
    row('idle RSS: one edge process', (x) => x.idle.edge / MiB, 'MiB'),
    row('idle RSS: edge, --max-semi-space-size=1', (x) => x.idle.edgeSmallYoung / MiB, 'MiB'),
  ]);
}
