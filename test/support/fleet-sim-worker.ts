// One process of the fleet simulator (fleet-sim.ts): many edge nodes, each a real node — its own
// instance directory and keys, its own `ppn join` (the Genesis join, outbound to the authority's
// join endpoint) and its own pipeline host running pipelines/os-infrastructure.json (userspace
// WireGuard device on its own UDP socket, verifier, executor, telemetry, membership sync). The
// hosts share only the process: the event loop, the loaded modules and one log stream, which is
// read here and summarised to the parent over IPC (executions, membership updates).
import { join } from 'node:path';
import { pino } from 'pino';
import { pinAuthority, type PinnedAuthority } from '../../core/genesis/authority-pin.js';
import { joinMesh } from '../../core/genesis/join-client.js';
import { nodeGraphRules } from '../../core/node/graph-rules.js';
import { nodePluginFolders, nodeServices } from '../../core/node/services.js';
import { projectRoot } from '../../core/project-root.js';
import { startHost, type Host } from '../../core/runtime/host.js';
import { createPluginLoader } from '../../core/runtime/plugins.js';
import { parseEndpoint } from '../../core/underlay/endpoint.js';

export interface WorkerNode {
  name: string;
  instanceDir: string;
  /** This node's WireGuard endpoint on loopback. */
  listen: string;
}

export type ToWorker =
  | { type: 'start'; nodes: WorkerNode[]; pinned: PinnedAuthority; joinEndpoint: string }
  | { type: 'add'; node: WorkerNode }
  | { type: 'stop-node'; name: string }
  | { type: 'memory' }
  | { type: 'stop' };

export type FromWorker =
  | { type: 'running'; name: string; nodeId: number }
  | { type: 'failed'; name: string; error: string }
  | { type: 'executed'; name: string; counter: string; at: number }
  | { type: 'membership'; name: string; seq: number; peers: number; at: number }
  | { type: 'memory'; rss: number; heapUsed: number }
  | { type: 'stopped' };

const tell = (m: FromWorker) => process.send!(m);
const hosts = new Map<string, Host>();
let context: { pinned: PinnedAuthority; joinEndpoint: string } | undefined;

/** The one log stream of every host here: what the parent needs, picked out of pino's lines. */
const logger = pino({ level: 'info' }, {
  write(line: string) {
    if (!line.includes('"command handled"') && !line.includes('"membership updated"')) return;
    const r = JSON.parse(line) as { msg: string; node: string; counter?: string; status?: string; seq?: number; peers?: string[]; time: number };
    if (r.msg === 'command handled' && r.status === 'executed') tell({ type: 'executed', name: r.node, counter: String(r.counter), at: r.time });
    else if (r.msg === 'membership updated') tell({ type: 'membership', name: r.node, seq: r.seq!, peers: r.peers!.length, at: r.time });
  },
});
const loader = createPluginLoader(nodePluginFolders());
const pipeline = join(projectRoot(), 'pipelines', 'os-infrastructure.json');

async function startNode(n: WorkerNode): Promise<void> {
  const { pinned, joinEndpoint } = context!;
  try {
    pinAuthority(n.instanceDir, pinned);
    const { membership } = await joinMesh({
      instanceDir: n.instanceDir, name: n.name, role: 'os-infrastructure', listen: n.listen,
      scanWindowMs: 0, beaconPort: 1, beaconFreshnessMs: 120_000, claimListen: { host: '127.0.0.1', port: 0 },
      authorityEndpoint: parseEndpoint(joinEndpoint), pollMs: 200, joinTimeoutMs: 120_000, say: () => {},
    });
    const host = await startHost({ file: pipeline, services: nodeServices(), loader, graphRules: nodeGraphRules(), logger, instanceDir: n.instanceDir });
    hosts.set(n.name, host);
    tell({ type: 'running', name: n.name, nodeId: membership.nodeId });
  } catch (err) {
    tell({ type: 'failed', name: n.name, error: (err as Error).stack ?? String(err) });
  }
}

process.on('message', async (m: ToWorker) => {
  if (m.type === 'start') {
    context = { pinned: m.pinned, joinEndpoint: m.joinEndpoint };
    // One join at a time per process: the join endpoint takes at most 4 connections from one address.
    for (const n of m.nodes) await startNode(n);
  } else if (m.type === 'add') {
    await startNode(m.node);
  } else if (m.type === 'stop-node') {
    await hosts.get(m.name)?.stop(Date.now() + 2_000);
    hosts.delete(m.name);
  } else if (m.type === 'memory') {
    const { rss, heapUsed } = process.memoryUsage();
    tell({ type: 'memory', rss, heapUsed });
  } else if (m.type === 'stop') {
    await Promise.all([...hosts.values()].map((h) => h.stop(Date.now() + 3_000)));
    tell({ type: 'stopped' });
    process.exit(0);
  }
});
// The parent is the only reason to live: without it (however it died), stop.
process.on('disconnect', () => process.exit(0));
