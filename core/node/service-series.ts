// Series the node's services keep: the mesh's WireGuard peers (read from mesh.status() at scrape
// time), and on the admin the commands by intent and outcome with intent→ack latency (moved by
// the registry's change events, as acks arrive).
import type { Mesh } from '../mesh/mesh.js';
import type { Registry, TargetStatus } from '../registry/registry.js';
import type { Labels, NodeMetrics } from '../runtime/node-metrics.js';

interface PeerView {
  publicKey?: string;
  name?: string;
  endpoint?: string;
  state?: string;
  lastHandshake?: number;
  rxBytes?: number;
  txBytes?: number;
  handshakes?: number;
}

export function registerMeshSeries(metrics: NodeMetrics, mesh: Mesh): void {
  const status = () => mesh.status() as { peers?: PeerView[]; drops?: Record<string, number>; paths?: { peers?: { name: string; path?: string; rttMs?: number }[] } };
  const peers = () => status().peers ?? [];
  const label = (p: PeerView) => ({ peer: p.publicKey ?? '' });
  const each = (read: (p: PeerView) => number | undefined) => () => peers().flatMap((p): [Labels, number][] => (read(p) === undefined ? [] : [[label(p), read(p)!]]));
  metrics.collect('gauge', 'ppn_wireguard_peers', 'WireGuard peers by session state (up, handshaking, idle, down)', ['state'], () => {
    const byState = new Map<string, number>([['up', 0], ['handshaking', 0], ['idle', 0], ['down', 0]]);
    for (const p of peers()) byState.set(p.state ?? 'idle', (byState.get(p.state ?? 'idle') ?? 0) + 1);
    return [...byState].map(([state, n]) => [{ state }, n]);
  });
  metrics.collect('counter', 'ppn_wireguard_handshakes_total', 'Completed WireGuard handshakes, by peer (public key)', ['peer'], each((p) => p.handshakes));
  metrics.collect('counter', 'ppn_wireguard_received_bytes_total', 'Bytes received from a peer', ['peer'], each((p) => p.rxBytes));
  metrics.collect('counter', 'ppn_wireguard_sent_bytes_total', 'Bytes sent to a peer', ['peer'], each((p) => p.txBytes));
  metrics.collect('gauge', 'ppn_wireguard_last_handshake_seconds', 'When the last handshake with a peer completed (Unix time)', ['peer'], each((p) => (p.lastHandshake === undefined ? undefined : p.lastHandshake / 1000)));
  metrics.collect('counter', 'ppn_wireguard_drops_total', 'Datagrams and packets the WireGuard device discarded, by reason', ['reason'], () =>
    Object.entries(status().drops ?? {}).map(([reason, n]): [Labels, number] => [{ reason }, n]),
  );
  metrics.collect('gauge', 'ppn_mesh_paths', 'Peers by path (direct, relayed, none)', ['path'], () => {
    const byPath = new Map<string, number>();
    for (const p of status().paths?.peers ?? []) byPath.set(p.path ?? 'none', (byPath.get(p.path ?? 'none') ?? 0) + 1);
    return [...byPath].map(([path, n]) => [{ path }, n]);
  });
}

/** Seconds from an intent's record to its target's ack: 5 ms to the 30 s beyond any deadline. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function registerCommandSeries(metrics: NodeMetrics, registry: Registry): () => void {
  const outcomes = metrics.counter('ppn_command_targets_total', "Commands' targets by intent and outcome (executed, failed, rejected-by-policy, unknown-intent, no-answer)", ['intent', 'outcome']);
  const latency = metrics.histogram('ppn_command_ack_seconds', 'From an intent being recorded to its target acknowledging it, by intent', ['intent'], LATENCY_BUCKETS);
  const recorded = metrics.counter('ppn_commands_total', 'Commands signed and recorded, by intent', ['intent']);
  // What each live command's targets said last, so that a change is counted once; with the
  // command's intent and time, so that an ack's event is counted without reading the command
  // (252 targets read again for each of 252 acks made `ping everyone` cost O(targets²)).
  const seen = new Map<string, { intent: string; at: number; last: Map<number, TargetStatus> }>();
  const deadlines = new Map<string, number>();
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, fn: () => void) => {
    const timer = setTimeout(() => (timers.delete(timer), fn()), ms);
    timer.unref();
    timers.add(timer);
  };
  const countTarget = (id: string, nodeId: number, status: TargetStatus) => {
    const entry = seen.get(id);
    if (!entry || status === 'sent' || entry.last.get(nodeId) === status) return;
    entry.last.set(nodeId, status);
    outcomes.inc({ intent: entry.intent, outcome: status });
    if (status !== 'no-answer') latency.observe({ intent: entry.intent }, (Date.now() - entry.at) / 1000);
  };
  const count = (id: string) => {
    for (const t of registry.command(id)?.targets ?? []) countTarget(id, t.nodeId, t.status);
  };
  const off = registry.onChange((event) => {
    if (event.type !== 'command') return;
    if (!seen.has(event.id)) {
      const command = registry.command(event.id);
      if (!command) return;
      seen.set(event.id, { intent: command.intent, at: Date.parse(command.at), last: new Map() });
      deadlines.set(event.id, command.deadline);
      recorded.inc({ intent: command.intent });
      // 'no-answer' is what a target still waiting reads as after the deadline (no event says
      // so): counted then. A late ack still counts its outcome; the entry goes a minute later.
      const untilDeadline = Math.max(0, command.deadline - Date.now()) + 50;
      later(untilDeadline, () => count(event.id));
      later(untilDeadline + 60_000, () => (seen.delete(event.id), deadlines.delete(event.id)));
    }
    if (event.target) countTarget(event.id, event.target.nodeId, event.target.status);
    else count(event.id);
  });
  // A scrape just after a deadline sees its no-answers (F8 may already have reported them).
  const offScrape = metrics.beforeScrape(() => {
    for (const [id, deadline] of deadlines) if (deadline <= Date.now()) count(id);
  });
  return () => {
    off();
    offScrape();
    for (const timer of timers) clearTimeout(timer);
  };
}
