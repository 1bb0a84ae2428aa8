// `ppn status` for people: the node, its reloads, its stages, and its services — the mesh with
// every peer (endpoint, path, last handshake, bytes, RTT when known; a session that is not up is
// said in words), the registry, the membership sequence. A pure function of the status, so a
// test can read exactly what an operator reads.
import type { HostStatus } from '../runtime/host.js';

interface PeerStats {
  publicKey: string;
  endpoint?: string;
  state?: string;
  lastHandshake?: number;
  rxBytes?: number;
  txBytes?: number;
}

interface PathView {
  name: string;
  address: string;
  path?: string;
  endpoint?: string;
  rttMs?: number;
  whyNotDirect?: string;
}

interface NodeView {
  peerNames?: Record<string, { name: string; address: string; via?: string }>;
}

export function statusLines(status: HostStatus, now = Date.now()): string[] {
  const lines = [
    `${status.node} (${status.role}) — ${status.file}`,
    `started ${status.startedAt}; in flight ${status.inflight}; reloads ${status.reloads.count} (failed ${status.reloads.failed})`,
  ];
  if (status.reloads.lastError) lines.push(`last reload error:\n  ${status.reloads.lastError.replace(/\n/g, '\n  ')}`);
  lines.push('stages:');
  for (const [id, s] of Object.entries(status.stages)) {
    const counters = Object.entries(s.counters).map(([k, v]) => `${k}=${v}`).join(' ');
    lines.push(`  ${id.padEnd(20)} ${s.type.padEnd(18)} ${s.state.padEnd(8)} gen ${s.generation}  ${counters}`);
  }
  const drops = Object.entries(status.drops);
  if (drops.length) lines.push(`drops: ${drops.map(([r, n]) => `${r}=${n}`).join(' ')}`);
  const services = status.serviceStatus ?? {};
  const seq = membershipSeq(status);
  lines.push('services:');
  const node = services.node as (Record<string, unknown> & NodeView) | undefined;
  if (node) lines.push(`  node      #${node.nodeId} ${node.address} listen ${node.listen}, key epoch ${node.epoch}${seq === undefined ? '' : `, membership seq ${seq}`}`);
  const mesh = services.mesh as { mode?: string; address?: string; port?: number; peers?: PeerStats[]; drops?: Record<string, number>; paths?: { peers?: PathView[]; pathChanges?: number; hubSilences?: number } } | undefined;
  if (mesh) {
    const meshDrops = Object.entries(mesh.drops ?? {}).filter(([, n]) => n > 0);
    const changes = mesh.paths ? `; path changes ${mesh.paths.pathChanges ?? 0}, hub silences ${mesh.paths.hubSilences ?? 0}` : '';
    lines.push(`  mesh      ${mesh.mode} ${mesh.address}${mesh.port ? ` port ${mesh.port}` : ''}, ${mesh.peers?.length ?? 0} peer(s)${changes}${meshDrops.length ? `; drops ${meshDrops.map(([r, n]) => `${r}=${n}`).join(' ')}` : ''}`);
    const paths = new Map((mesh.paths?.peers ?? []).map((p) => [p.name, p]));
    for (const p of mesh.peers ?? []) lines.push(`    ${peerLine(p, node?.peerNames?.[p.publicKey], paths, now)}`);
    // An identity key change under way, or its overlap (core/node/identity-rotation.ts).
    const { pending, replaced } = (mesh as { identity?: { pending?: { publicKey: string; from: number; to: number; requests: number }; replaced?: { publicKey: string; until: string } } }).identity ?? {};
    if (pending) lines.push(`    identity key change under way to ${pending.publicKey} (key epoch ${pending.from} → ${pending.to}), ${pending.requests} request(s) sent, not yet confirmed`);
    if (replaced) lines.push(`    identity key replaced: the old one (${replaced.publicKey}) still answered until ${replaced.until}`);
  }
  const registry = services.registry as { nodes?: Record<string, number>; lastCommand?: { id: string; at: string; intent: string; target: string } } | undefined;
  if (registry) {
    const nodes = Object.entries(registry.nodes ?? {}).map(([s, n]) => `${s} ${n}`).join(', ');
    const last = registry.lastCommand ? `; last command ${registry.lastCommand.id} ${registry.lastCommand.intent} → ${registry.lastCommand.target} at ${registry.lastCommand.at}` : '';
    lines.push(`  registry  nodes: ${nodes}${last}`);
  }
  for (const name of status.services.filter((n) => !['node', 'mesh', 'registry'].includes(n))) {
    lines.push(`  ${name.padEnd(9)} ${services[name] ? JSON.stringify(services[name]) : 'running'}`);
  }
  return lines;
}

function peerLine(p: PeerStats, known: { name: string; address: string; via?: string } | undefined, paths: Map<string, PathView>, now: number): string {
  const who = known ? `${known.name} ${known.address}` : p.publicKey.slice(0, 12) + '…';
  const path = known ? paths.get(known.name) : undefined;
  const session =
    p.state === 'up' ? 'session up' : p.state === 'handshaking' ? 'SESSION DOWN (handshaking, no answer yet)' : p.state === 'down' ? 'SESSION DOWN (handshake gave up)' : 'SESSION DOWN (no session yet)';
  const parts = [who.padEnd(24), session];
  const endpoint = path?.endpoint ?? p.endpoint ?? (known?.via && `via ${known.via}`);
  parts.push(`endpoint ${endpoint ?? 'unknown'}`);
  if (path?.path) parts.push(`path ${path.path}${path.whyNotDirect ? ` (${path.whyNotDirect})` : ''}`);
  parts.push(`handshake ${p.lastHandshake ? `${ago(now - p.lastHandshake)} ago` : 'never'}`);
  parts.push(`rx ${bytes(p.rxBytes ?? 0)} tx ${bytes(p.txBytes ?? 0)}`);
  if (path?.rttMs !== undefined) parts.push(`rtt ${path.rttMs} ms`);
  return parts.join('  ');
}

/** The membership sequence a stage reports (the authority's sync pusher or a node's sync). */
function membershipSeq(status: HostStatus): number | undefined {
  for (const s of Object.values(status.stages)) {
    const details = s.details as { seq?: unknown; sync?: { seq?: unknown } } | undefined;
    const seq = details?.seq ?? details?.sync?.seq;
    if (typeof seq === 'number') return seq;
  }
  return undefined;
}

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`;
}

function bytes(n: number): string {
  return n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / (1 << 20)).toFixed(1)} MiB`;
}
