// What a telemetry report says about its node (docs/telemetry.md): facts only — figures, names
// and states, nothing that could be taken as an instruction. The same bounds apply on both
// sides: the node cuts its facts to fit one datagram, the authority takes only what it reads
// back within them (unknown fields are dropped, a wrong type refuses the report).

export interface ReportPeer {
  name: string;
  address?: string;
  /** The WireGuard session: idle, handshaking, up, down. */
  state?: string;
  /** The path in use (userspace meshes): direct, relayed or none. */
  path?: string;
  rttMs?: number;
  /** Seconds since the last completed handshake. */
  handshakeAgeS?: number;
}

export interface ReportFacts {
  /** The sender's heartbeat interval: the authority judges its health by it. */
  everySeconds: number;
  uptimeS: number;
  version: string;
  /** Load average over 1, 5 and 15 minutes. */
  load: [number, number, number];
  rssBytes: number;
  /** Free bytes on the file system of the node's instance directory, if it could be read. */
  diskFreeBytes?: number;
  /** Stage id → state (running, failed, …). */
  stages: Record<string, string>;
  /** Envelopes dropped since start: the total and the largest reasons. */
  drops: { total: number; top: Record<string, number> };
  peers: ReportPeer[];
  /** Every peer counted by its path (or session state without paths), also when `peers` was cut. */
  peerPaths: Record<string, number>;
  /** The newest membership update (its seq) this node applied: the authority re-pushes only to nodes behind. */
  syncSeq?: number;
  /** Set when lists were cut to fit one datagram. */
  truncated?: true;
}

export const FACT_LIMITS = { stages: 32, dropReasons: 8, peers: 32, peerPaths: 8, name: 64, state: 24, version: 40, address: 48 } as const;

const PRINTABLE = /^[\x20-\x7e]*$/;
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= Number.MAX_SAFE_INTEGER;
const text = (v: unknown, max: number): string | undefined => (typeof v === 'string' && v.length <= max && PRINTABLE.test(v) ? v : undefined);
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

class FactsError extends Error {}
const need = <T>(value: T | undefined, what: string): T => {
  if (value === undefined) throw new FactsError(what);
  return value;
};

function readPeer(v: unknown): ReportPeer {
  if (!isRecord(v)) throw new FactsError('peer');
  const peer: ReportPeer = { name: need(text(v.name, FACT_LIMITS.name), 'peer.name') };
  if (v.address !== undefined) peer.address = need(text(v.address, FACT_LIMITS.address), 'peer.address');
  if (v.state !== undefined) peer.state = need(text(v.state, FACT_LIMITS.state), 'peer.state');
  if (v.path !== undefined) peer.path = need(text(v.path, FACT_LIMITS.state), 'peer.path');
  if (v.rttMs !== undefined) peer.rttMs = need(isCount(v.rttMs) ? v.rttMs : undefined, 'peer.rttMs');
  if (v.handshakeAgeS !== undefined) peer.handshakeAgeS = need(isCount(v.handshakeAgeS) ? v.handshakeAgeS : undefined, 'peer.handshakeAgeS');
  return peer;
}

function readMap(v: unknown, max: number, value: (x: unknown) => boolean, what: string): Record<string, never> {
  if (!isRecord(v)) throw new FactsError(what);
  const entries = Object.entries(v);
  if (entries.length > max) throw new FactsError(what);
  for (const [k, x] of entries) if (!text(k, FACT_LIMITS.name) || !value(x)) throw new FactsError(what);
  return Object.fromEntries(entries) as Record<string, never>;
}

/** The facts in a report body, within the limits; or the name of the first field that is not. */
export function readFacts(value: unknown): { ok: true; facts: ReportFacts } | { ok: false; field: string } {
  try {
    if (!isRecord(value)) throw new FactsError('body');
    const { everySeconds, uptimeS, load, rssBytes, diskFreeBytes, syncSeq } = value;
    if (!Number.isInteger(everySeconds) || (everySeconds as number) < 1 || (everySeconds as number) > 86_400) throw new FactsError('everySeconds');
    if (!Array.isArray(load) || load.length !== 3 || !load.every(isCount)) throw new FactsError('load');
    if (!isRecord(value.drops) || !isCount(value.drops.total)) throw new FactsError('drops');
    if (!Array.isArray(value.peers) || value.peers.length > FACT_LIMITS.peers) throw new FactsError('peers');
    const facts: ReportFacts = {
      everySeconds: everySeconds as number,
      uptimeS: need(isCount(uptimeS) ? uptimeS : undefined, 'uptimeS'),
      version: need(text(value.version, FACT_LIMITS.version), 'version'),
      load: load as [number, number, number],
      rssBytes: need(isCount(rssBytes) ? rssBytes : undefined, 'rssBytes'),
      stages: readMap(value.stages, FACT_LIMITS.stages, (x) => text(x, FACT_LIMITS.state) !== undefined, 'stages'),
      drops: { total: value.drops.total, top: readMap(value.drops.top, FACT_LIMITS.dropReasons, isCount, 'drops.top') },
      peers: value.peers.map(readPeer),
      peerPaths: readMap(value.peerPaths, FACT_LIMITS.peerPaths, isCount, 'peerPaths'),
    };
    if (diskFreeBytes !== undefined) facts.diskFreeBytes = need(isCount(diskFreeBytes) ? diskFreeBytes : undefined, 'diskFreeBytes');
    if (syncSeq !== undefined) facts.syncSeq = need(Number.isInteger(syncSeq) && isCount(syncSeq) ? syncSeq : undefined, 'syncSeq');
    if (value.truncated === true) facts.truncated = true;
    return { ok: true, facts };
  } catch (err) {
    if (err instanceof FactsError) return { ok: false, field: err.message };
    throw err;
  }
}

/**
 * Facts cut to the limits and to `maxBytes` of JSON: lists are halved (peers first, then drop
 * reasons, then stages) until the body fits, and the result says it was truncated.
 */
export function fitFacts(facts: ReportFacts, maxBytes: number): { facts: ReportFacts; json: Buffer } {
  const clip = (s: string, max: number) => s.replace(/[^\x20-\x7e]/g, '?').slice(0, max);
  const stages = Object.entries(facts.stages).map(([id, state]) => [clip(id, FACT_LIMITS.name), clip(state, FACT_LIMITS.state)] as const);
  const drops = Object.entries(facts.drops.top).sort((a, b) => b[1] - a[1]).map(([k, n]) => [clip(k, FACT_LIMITS.name), n] as const);
  const peers = facts.peers.map((p) => ({
    ...p,
    name: clip(p.name, FACT_LIMITS.name),
    ...(p.address !== undefined && { address: clip(p.address, FACT_LIMITS.address) }),
    ...(p.state !== undefined && { state: clip(p.state, FACT_LIMITS.state) }),
    ...(p.path !== undefined && { path: clip(p.path, FACT_LIMITS.state) }),
  }));
  let limits: { peers: number; drops: number; stages: number } = { peers: FACT_LIMITS.peers, drops: FACT_LIMITS.dropReasons, stages: FACT_LIMITS.stages };
  for (;;) {
    const cut = peers.length > limits.peers || drops.length > limits.drops || stages.length > limits.stages;
    const fitted: ReportFacts = {
      everySeconds: facts.everySeconds,
      uptimeS: Math.round(facts.uptimeS),
      version: clip(facts.version, FACT_LIMITS.version),
      load: facts.load.map((l) => Math.round(Math.max(0, l) * 100) / 100) as [number, number, number],
      rssBytes: Math.round(facts.rssBytes),
      ...(facts.diskFreeBytes !== undefined && { diskFreeBytes: Math.round(facts.diskFreeBytes) }),
      ...(facts.syncSeq !== undefined && { syncSeq: facts.syncSeq }),
      stages: Object.fromEntries(stages.slice(0, limits.stages)),
      drops: { total: facts.drops.total, top: Object.fromEntries(drops.slice(0, limits.drops)) },
      peers: peers.slice(0, limits.peers),
      peerPaths: Object.fromEntries(Object.entries(facts.peerPaths).slice(0, FACT_LIMITS.peerPaths).map(([k, n]) => [clip(k, FACT_LIMITS.state), n])),
      ...((cut || facts.truncated) && { truncated: true as const }),
    };
    const json = Buffer.from(JSON.stringify(fitted));
    if (json.length <= maxBytes) return { facts: fitted, json };
    if (limits.peers > 0) limits = { ...limits, peers: Math.min(limits.peers, peers.length) >> 1 };
    else if (limits.drops > 0) limits = { ...limits, drops: Math.min(limits.drops, drops.length) >> 1 };
    else if (limits.stages > 0) limits = { ...limits, stages: Math.min(limits.stages, stages.length) >> 1 };
    else throw new RangeError(`report facts do not fit ${maxBytes} bytes even without lists`);
  }
}

/**
 * The facts in at most `maxBytes` of JSON (an ack's detail holds 200): figures and counts only —
 * stages not running and peers by path are named up to what fits.
 */
export function factsSummary(facts: ReportFacts, maxBytes: number): string {
  const notRunning = Object.entries(facts.stages).filter(([, s]) => s !== 'running').map(([id]) => id);
  const summary = {
    v: facts.version,
    up: facts.uptimeS,
    load: facts.load[0],
    rssMB: Math.round(facts.rssBytes / 1e6),
    ...(facts.diskFreeBytes !== undefined && { diskGB: Math.round(facts.diskFreeBytes / 1e8) / 10 }),
    stages: Object.keys(facts.stages).length,
    down: notRunning,
    drops: facts.drops.total,
    peers: facts.peerPaths,
  };
  let json = JSON.stringify(summary);
  while (Buffer.byteLength(json) > maxBytes && summary.down.length) {
    summary.down = summary.down.slice(0, -1);
    json = JSON.stringify({ ...summary, down: [...summary.down, '…'] });
  }
  return Buffer.byteLength(json) <= maxBytes ? json : JSON.stringify({ v: facts.version, up: facts.uptimeS, drops: facts.drops.total }).slice(0, maxBytes);
}
