// The whole /24, measured (issue 18): a 254-node fleet (test/support/fleet-sim.ts: the admin and
// the hub as their own processes, 252 edge nodes in 4 worker processes, all joined by Genesis)
// against a 16-node one in the same run. `ping everyone` through F8: time from the POST to the
// first and the last ack the admin logs, the admin's CPU and RSS growth per command, the hub's
// CPU per command; a membership change (one node revoked) until every edge node applied it; the
// idle RSS of the admin, the hub, a worker, and one edge node as its own process (as shipped, and
// with NODE_OPTIONS=--max-semi-space-size=1).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { membershipFor } from '../core/genesis/peers.js';
import { genesisCheck, genesisKeyFromSeed } from '../core/genesis/signing-key.js';
import { createUpdateAssembler, encodeUpdate } from '../core/genesis/sync.js';
import type { RegistryNode } from '../core/registry/registry.js';
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
  /** All the hub's CPU from its start to the last ping, over the frames it relayed meanwhile: an upper bound per frame. */
  hubCpuPerRelayedUs: number;
  framesRelayed: number;
  membershipMs: number;
  /** F8's command view of the last `ping everyone` (all its targets). */
  f8CommandMs: number;
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
  // Executions are seen in the workers (fleet.edges); acks come from every edge node, the two processes too.
  await fleet.executed(counter, fleet.edges.size, 60_000);
  await fleet.admin.waitFor(() => fleet.acks(counter).length >= takers, 60_000, `${takers} acks`);
  const acks = fleet.acks(counter).map((a) => a.at - at).sort((a, b) => a - b);
  return { id: String(answer.body.id), first: acks[0], last: acks.at(-1)!, cpu: cpuMs(adminPid) - cpu0, rss: rss(adminPid) - rss0, hub: cpuMs(hubPid) - hub0 };
}

/** Frames the hub's relay passed on since it started (`ppn status --json`). */
async function framesRelayed(fleet: FleetSim): Promise<number> {
  const status = JSON.parse(await fleet.ppn('status', '--instance', `${fleet.root}/hub`, '--json'));
  return Number(status.serviceStatus.mesh.relay.framesRelayed);
}

async function measure(edges: number): Promise<Figures> {
  // Two of the edge nodes run as their own processes (their RSS is an edge device's), the rest in
  // the workers: ids are never reused, so a full /24 has no room for them afterwards.
  const fleet = await startFleetSim({ edges: edges - 2, syncEveryMs: 15_000 });
  try {
    const edge = await fleet.edgeProcess('edge-alone');
    const small = await fleet.edgeProcess('edge-small-young', '--max-semi-space-size=1');
    // Sessions and paths settle (handshakes, direct paths proven) before anything is timed.
    await settle(10_000);
    await ping(fleet, edges);
    const runs: Awaited<ReturnType<typeof ping>>[] = [];
    for (let i = 0; i < ROUNDS; i++) runs.push(await ping(fleet, edges));
    const viewAt = performance.now();
    const view = await fleet.f8Get(`/v1/commands/${encodeURIComponent(runs.at(-1)!.id)}`);
    const f8CommandMs = performance.now() - viewAt;
    if (view.body.targets?.length !== edges) throw new Error(`F8's command view lists ${view.body.targets?.length} targets`);
    const median = (f: (r: (typeof runs)[number]) => number) => runs.map(f).sort((a, b) => a - b)[Math.floor(runs.length / 2)];
    const relayed = await framesRelayed(fleet);
    const hubCpuTotal = cpuMs(fleet.hub.child.pid!);

    // The worker nodes report what they apply (the two processes are left out of the wait).
    const [revokedId, revokedName] = [...fleet.edges].at(-1)!;
    const names = [...fleet.edges.values()].filter((n) => n !== revokedName);
    const at = Date.now();
    await fleet.ppn('nodes', 'revoke', String(revokedId), '--instance', `${fleet.root}/admin`);
    // Peers: the other worker nodes, the two edge processes, the hub and the admin.
    const applied = await fleet.membershipApplied(names, (u) => u.peers === names.length - 1 + 4, 120_000);

    await settle(10_000);
    const memory = await fleet.memory();
    return {
      nodes: edges + 2,
      firstAckMs: median((r) => r.first),
      lastAckMs: median((r) => r.last),
      adminCpuMs: median((r) => r.cpu),
      adminRssKiB: median((r) => r.rss) / 1024,
      hubCpuMs: median((r) => r.hub),
      hubCpuPerRelayedUs: (hubCpuTotal * 1000) / Math.max(relayed, 1),
      framesRelayed: relayed,
      membershipMs: applied - at,
      f8CommandMs,
      idle: { admin: memory.admin, hub: memory.hub, worker: memory.workers[0].rss, edge: rss(edge.child.pid!), edgeSmallYoung: rss(small.child.pid!) },
    };
  } finally {
    await fleet.stop();
  }
}

/** A whole round of membership updates for a fleet of `nodes`, as the authority signs it and as every node checks it. */
function membershipRound(nodes: number): { signMs: number; checkMs: number; parts: number; bytes: number } {
  const key = genesisKeyFromSeed(randomBytes(32));
  const fleet: RegistryNode[] = Array.from({ length: nodes }, (_, i) => ({
    id: i + 1, name: i === 0 ? 'hub' : i === 9 ? 'admin' : `edge-${i + 1}`, aliases: [], address: `10.8.0.${i + 1}`,
    role: i === 0 ? 'cloud-relay' : i === 9 ? 'os-network-admin' : 'os-infrastructure', groups: [1], takesCommands: i !== 0 && i !== 9,
    publicKey: randomBytes(32).toString('base64'), endpoint: `203.0.113.${i + 1}:51820`, status: 'active',
  }));
  const authority = { nodeId: 10, commandPublicKey: randomBytes(32).toString('base64'), epoch: 0 };
  const members = fleet.filter((n) => n.id !== 10).map((n) => membershipFor(n, fleet, authority)!);
  let t = performance.now();
  const signed = members.map((m) => encodeUpdate(key, { seq: 1, nodeId: m.nodeId, membership: m }));
  const signMs = performance.now() - t;
  t = performance.now();
  for (const [i, parts] of signed.entries()) {
    const assembler = createUpdateAssembler({ check: genesisCheck(key.publicKey), nodeId: members[i].nodeId, lastSeq: 0 });
    if (!parts.map((p) => assembler.take(p)).at(-1)!.ok) throw new Error('a round did not apply');
  }
  const flat = signed.flat();
  return { signMs, checkMs: performance.now() - t, parts: flat.length, bytes: flat.reduce((a, p) => a + p.length, 0) };
}

export default async function run(): Promise<void> {
  const rounds = [16, 64, 254].map((n) => ({ nodes: n, ...membershipRound(n) }));
  printTable(rounds.map((r) => ({
    'membership round': `${r.nodes} nodes`, parts: r.parts, 'KB on the wire': r.bytes / 1000, 'authority signs (ms)': r.signMs,
    'all nodes check (ms, one core)': r.checkMs, 'ratio to 16 (signing)': r.signMs / rounds[0].signMs,
  })));
  console.log('');
  // The whole /24 against 16 nodes; FLEET_BENCH_EDGES sets the larger fleet's edge nodes.
  const small = await measure(14);
  const full = await measure(Number(process.env.FLEET_BENCH_EDGES ?? 252));
  /** Against the small fleet; none when it measured 0 (no ratio to speak of). */
  const ratio = (f: (x: Figures) => number): number | string => (f(small) > 0 ? f(full) / f(small) : '—');
  const row = (what: string, f: (x: Figures) => number, unit: string) => ({ figure: what, unit, [`${small.nodes} nodes`]: f(small), [`${full.nodes} nodes`]: f(full), ratio: ratio(f) });
  printTable([
    row('ping everyone: first ack', (x) => x.firstAckMs, 'ms'),
    row('ping everyone: last ack', (x) => x.lastAckMs, 'ms'),
    row('admin CPU per command', (x) => x.adminCpuMs, 'ms'),
    row('admin RSS growth per command', (x) => x.adminRssKiB, 'KiB'),
    row('hub CPU per command (paths direct by then)', (x) => x.hubCpuMs, 'ms'),
    row('frames the hub relayed (start to last ping)', (x) => x.framesRelayed, ''),
    row('hub CPU per relayed frame (upper bound: all its CPU over them)', (x) => x.hubCpuPerRelayedUs, 'µs'),
    row('membership change to every node', (x) => x.membershipMs, 'ms'),
    row("F8's command view (GET, every target)", (x) => x.f8CommandMs, 'ms'),
    row('idle RSS: admin', (x) => x.idle.admin / MiB, 'MiB'),
    row('idle RSS: hub', (x) => x.idle.hub / MiB, 'MiB'),
    row('idle RSS: worker (a quarter of the edges)', (x) => x.idle.worker / MiB, 'MiB'),
    row('idle RSS: one edge process', (x) => x.idle.edge / MiB, 'MiB'),
    row('idle RSS: edge, --max-semi-space-size=1', (x) => x.idle.edgeSmallYoung / MiB, 'MiB'),
  ]);
}
