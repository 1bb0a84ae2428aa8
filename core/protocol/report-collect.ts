// Gathers a node's facts for a telemetry report from what the node already knows: the process,
// the OS, the pipeline host's status and the mesh's status. The shapes read are structural, so
// this stays a leaf: a caller passes what HOST.status() and MESH.status() return.
import { statfsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import type { ReportFacts, ReportPeer } from './report-facts.js';

export interface FactSources {
  everySeconds: number;
  /** The node's instance directory: its file system's free space is the disk fact. */
  instanceDir: string;
  host: { stages: Record<string, { state: string }>; drops: Record<string, number> };
  mesh: Record<string, unknown>;
  /** The newest membership update applied (genesis-state.json), if any. */
  syncSeq?: number;
  now?: number;
}

let version: string | undefined;
/** The version in package.json, two folders up from dist/core/protocol (or core/protocol). */
export function packageVersion(): string {
  if (version) return version;
  for (const up of ['../../../package.json', '../../package.json']) {
    try {
      return (version = (JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { version: string }).version);
    } catch {
      // not this layout
    }
  }
  return (version = 'unknown');
}

function diskFree(dir: string): number | undefined {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}

type PathPeer = { name?: unknown; address?: unknown; path?: unknown; rttMs?: unknown; lastHandshake?: unknown };
type DevicePeer = { publicKey?: unknown; allowedIPs?: unknown; state?: unknown; lastHandshake?: unknown };

/**
 * Peers as the mesh knows them: with paths (userspace meshes that own them) each peer's name,
 * path (direct, relayed, none) and RTT, with the session state from the device's peer list;
 * without paths, the device's peers by their first allowed address.
 */
function peersOf(mesh: Record<string, unknown>, now: number): ReportPeer[] {
  const devicePeers = (Array.isArray(mesh.peers) ? mesh.peers : []) as DevicePeer[];
  const age = (at: unknown) => (typeof at === 'number' ? Math.max(0, Math.round((now - at) / 1000)) : undefined);
  const stateByAddress = new Map<string, string>();
  for (const p of devicePeers) {
    const ips = Array.isArray(p.allowedIPs) ? (p.allowedIPs as string[]) : [];
    if (typeof p.state === 'string') for (const ip of ips) stateByAddress.set(ip.split('/')[0], p.state);
  }
  const pathPeers = ((mesh.paths as { peers?: unknown } | undefined)?.peers ?? undefined) as PathPeer[] | undefined;
  if (Array.isArray(pathPeers)) {
    return pathPeers.map((p) => {
      const address = typeof p.address === 'string' ? p.address : undefined;
      const state = address && stateByAddress.get(address);
      return {
        name: String(p.name),
        ...(address && { address }),
        ...(state && { state }),
        ...(typeof p.path === 'string' && { path: p.path }),
        ...(typeof p.rttMs === 'number' && { rttMs: p.rttMs }),
        ...(age(p.lastHandshake) !== undefined && { handshakeAgeS: age(p.lastHandshake) }),
      };
    });
  }
  return devicePeers.map((p) => {
    const address = Array.isArray(p.allowedIPs) && typeof p.allowedIPs[0] === 'string' ? (p.allowedIPs[0] as string).split('/')[0] : undefined;
    return {
      name: address ?? String(p.publicKey).slice(0, 12),
      ...(address && { address }),
      ...(typeof p.state === 'string' && { state: p.state }),
      ...(age(p.lastHandshake) !== undefined && { handshakeAgeS: age(p.lastHandshake) }),
    };
  });
}

export function collectFacts(sources: FactSources): ReportFacts {
  const now = sources.now ?? Date.now();
  const drops = Object.entries(sources.host.drops).sort((a, b) => b[1] - a[1]);
  const [l1, l5, l15] = loadavg();
  const disk = diskFree(sources.instanceDir);
  const peers = peersOf(sources.mesh, now);
  const peerPaths: Record<string, number> = {};
  for (const p of peers) peerPaths[p.path ?? p.state ?? 'unknown'] = (peerPaths[p.path ?? p.state ?? 'unknown'] ?? 0) + 1;
  return {
    everySeconds: sources.everySeconds,
    uptimeS: Math.round(process.uptime()),
    version: packageVersion(),
    load: [l1, l5, l15],
    rssBytes: process.memoryUsage.rss(),
    ...(disk !== undefined && { diskFreeBytes: disk }),
    ...(sources.syncSeq !== undefined && { syncSeq: sources.syncSeq }),
    stages: Object.fromEntries(Object.entries(sources.host.stages).map(([id, s]) => [id, s.state])),
    drops: { total: drops.reduce((a, [, n]) => a + n, 0), top: Object.fromEntries(drops) },
    peers,
    peerPaths,
  };
}
