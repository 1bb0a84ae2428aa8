// The path owner below the WireGuard sessions (the device's PathOwner seam, docs/nat.md): one
// PeerPaths per peer (path.ts), driven on a clock tick. It sends every outer datagram of a peer on
// that peer's chosen path, sends the probes each asks for over the candidate they test (inside
// the session, on the device's per-datagram `via`), answers probes on the path they came by,
// and talks to the lighthouse: a spoke asks the hub to introduce it to every peer it cannot yet
// reach directly, and punches as soon as the hub's meet names where the peer is; the hub
// (`lighthouse: true`) learns spokes' endpoints from what the device authenticates and answers
// asks (lighthouse.ts). A spoke pings the hub too: a hub that stops answering (restarted, so its
// sessions are gone; or a NAT that forgot the mapping) is said once, counted, and handed to
// `onHubSilent` (the mesh starts a fresh session); the pings themselves re-open a NAT's mapping.
// Path changes are logged once each and counted.
//
// Paths are owned on demand (as Tailscale's disco and Nebula's connection manager do): in a mesh
// of more than `eagerPeers` peers, a peer with a relay is probed, asked about and pinged only
// while it carries traffic (a data datagram sent to it within `activeFor`, or the hub's meet
// naming it, which says the far end wants a path now). An idle peer costs nothing and its
// datagrams take the relay; the first data sent to it wakes it, and a direct path is usually up
// a second later. Owning every pair of a full /24 instead is 32,000 sessions and probes, which
// 254 nodes cannot afford (docs/fleet-limits.md); a small mesh owns every path at all times.
import { randomBytes } from 'node:crypto';
import type { Device, Endpoint as DeviceEndpoint, Logger, PathOwner, UdpSource } from '../../wireguard/device.js';
import { systemClock, type Clock } from '../../wireguard/clock.js';
import { logSampler } from '../../log-sampler.js';
import type { Endpoint } from '../../underlay/endpoint.js';
import { createLighthouse } from './lighthouse.js';
import { createPeerPaths, isRelay, keyOf, type PathChange, type PathTimings, type PeerPaths, type RelayPath, type WhyNotDirect } from './path.js';
import { decodeMessage, encodeMessage, type PathMessage } from './wire.js';
import { PATHS_PORT } from '../ports.js';

export interface PathPeer {
  name: string;
  /** Mesh address. */
  address: string;
  /** The hub's relay path to it, when it has one. */
  relay?: RelayPath;
  /** A direct endpoint from the membership file. */
  configured?: Endpoint;
}

export interface PeerPathStatus {
  path: 'direct' | 'relayed' | 'none';
  endpoint?: string;
  rttMs?: number;
  whyNotDirect?: WhyNotDirect;
  candidates: string[];
}

export interface PathOwnerOptions {
  logger: Logger;
  clock?: Clock;
  /** Serve the lighthouse (the hub). */
  lighthouse?: boolean;
  /** The hub's mesh address, where a spoke's asks go (none: the node asks nobody). */
  hub?: () => string | undefined;
  /** This node's own underlay endpoints, offered to peers behind the same NAT. */
  localEndpoints?: () => Endpoint[];
  timings?: Partial<PathTimings>;
  /** Ms between ticks. */
  tickMs?: number;
  /** Ms between asks for one peer while it is not direct; once blocked by NAT, askBlockedEvery. */
  askEvery?: number;
  askBlockedEvery?: number;
  /** A peer with a relay and no data sent to it for this long is idle (default 45 s). */
  activeFor?: number;
  /** A mesh of at most this many peers owns every path, traffic or not (default 16). */
  eagerPeers?: number;
  /** Called after each path change (already logged and counted). */
  onChange?: (publicKey: string, change: PathChange) => void;
  /** Ms between a spoke's pings to the hub; after hubSilentAfter without a pong the hub is silent. */
  hubPingEvery?: number;
  hubSilentAfter?: number;
  /** The hub stopped answering (said and counted here): start a fresh session with it. */
  onHubSilent?: (publicKey: string) => void;
}

export interface Paths {
  setPeer(publicKey: string, peer: PathPeer): void;
  removePeer(publicKey: string): void;
  status(publicKey: string): PeerPathStatus | undefined;
  stats(): { pathChanges: number; hubSilences: number; messages: Record<string, number>; drops: Record<string, number> };
  /** Runs one tick now (tests; the clock runs them otherwise). */
  tick(): void;
  close(): void;
}

interface Tracked {
  peer: PathPeer;
  paths: PeerPaths;
  lastAsk?: number;
  /** When the peer was set, or last woke. */
  since: number;
  /** Last data datagram sent to it (or the hub's meet naming it). */
  lastActive?: number;
  /** Probed, asked about and pinged (see owned()). */
  awake: boolean;
  lastKick?: number;
  /** When a probe first found no session with the peer (cleared once there is one). */
  firstNoSession?: number;
  /** The hub, as a spoke sees it: pings in flight (txid → sent), the last pong, whether silent. */
  hub?: HubWatch;
}

interface HubWatch {
  pings: Map<string, number>;
  lastPing?: number;
  /** Last pong, or when the watch (re)started. */
  lastPong: number;
  silent: boolean;
}

const KICK_EVERY = 5000;
/** Asks for a peer without any meet yet go every FRESH_ASK_EVERY for its first FRESH_FOR ms. */
const FRESH_ASK_EVERY = 1000;
const FRESH_FOR = 30_000;
/** A transport datagram with nothing inside (16-byte header, 16-byte tag) is a keepalive, not traffic. */
const KEEPALIVE_BYTES = 32;
const TRANSPORT_TYPE = 4;
const describe = (p: DeviceEndpoint | undefined) => (!p ? undefined : 'relay' in p ? `relay ${p.relay}` : keyOf(p));

export function createPathOwner(device: Device, options: PathOwnerOptions): Paths {
  const clock = options.clock ?? systemClock;
  const log = options.logger;
  const tickMs = options.tickMs ?? 250;
  const askEvery = options.askEvery ?? 10_000;
  const askBlockedEvery = options.askBlockedEvery ?? 30_000;
  const hubPingEvery = options.hubPingEvery ?? 2000;
  const hubSilentAfter = options.hubSilentAfter ?? 6000;
  const activeFor = options.activeFor ?? 45_000;
  const eagerPeers = options.eagerPeers ?? 16;
  /** Set while the owner sends for itself (the kick that starts a session): that is not traffic. */
  let ownSend = false;
  const peers = new Map<string, Tracked>();
  const byAddress = new Map<string, string>();
  const lighthouse = options.lighthouse ? createLighthouse() : undefined;
  const counts = { pathChanges: 0, hubSilences: 0 };
  const messages: Record<string, number> = {};
  const drops: Record<string, number> = {};
  const sampler = logSampler(20, () => clock.now());
  /** A message the protocol's own races explain (a late pong, an ask too early): counted, debug. */
  const drop = (reason: string, detail: object) => {
    drops[reason] = (drops[reason] ?? 0) + 1;
    log.debug({ reason, ...detail }, 'path message dropped');
  };
  /** Bad input (it does not decode, or does not come from a peer's own address): counted, logged sampled. */
  const reject = (reason: string, detail: object) => {
    drops[reason] = (drops[reason] ?? 0) + 1;
    if (sampler.allow(reason)) log.warn({ reason, ...detail }, 'path message rejected');
  };

  function send(to: string, m: PathMessage, via?: DeviceEndpoint): boolean {
    messages[`${m.type} sent`] = (messages[`${m.type} sent`] ?? 0) + 1;
    return device.sendUdp(PATHS_PORT, to, PATHS_PORT, encodeMessage(m), via ? { via } : undefined);
  }

  function apply(key: string, t: Tracked, now: number, change = t.paths.evaluate(now)): void {
    if (!change) return;
    counts.pathChanges++;
    log.info({ peer: t.peer.name, from: describe(change.from), to: describe(change.to), reason: change.reason, rttMs: t.paths.rtt() }, 'peer path changed');
    options.onChange?.(key, change);
  }

  /** A spoke's watch on the hub: a ping every hubPingEvery; no pong for hubSilentAfter → silent. */
  function watchHub(key: string, t: Tracked, now: number): void {
    if (lighthouse || t.peer.address !== options.hub?.()) return;
    const h: HubWatch = (t.hub ??= { pings: new Map(), lastPong: now, silent: false });
    if (h.lastPing !== undefined && now - h.lastPing < hubPingEvery) return;
    const path = t.paths.current;
    if (!path || isRelay(path)) return;
    const txid = randomBytes(8);
    // Without a session there is nothing to ping through: WireGuard's own handshake is under way.
    if (!send(t.peer.address, { type: 'ping', txid }, path)) {
      h.lastPong = now;
      return;
    }
    h.lastPing = now;
    h.pings.set(txid.toString('hex'), now);
    for (const [id, at] of h.pings) if (now - at > hubSilentAfter) h.pings.delete(id);
    if (now - h.lastPong < hubSilentAfter) return;
    // Said and counted once per silence; a fresh session is tried every hubSilentAfter until it answers.
    if (!h.silent) {
      h.silent = true;
      counts.hubSilences++;
      log.warn({ peer: t.peer.name, silentMs: now - h.lastPong }, 'hub silent: starting a fresh session');
    }
    h.lastPong = now;
    options.onHubSilent?.(key);
  }

  function hubPong(t: Tracked, txid: Buffer, now: number): boolean {
    const h = t.hub;
    if (!h || !h.pings.delete(txid.toString('hex'))) return false;
    h.lastPong = now;
    if (h.silent) {
      h.silent = false;
      log.info({ peer: t.peer.name }, 'hub answers again');
    }
    return true;
  }

  function tickPeer(key: string, t: Tracked, now: number): void {
    watchHub(key, t, now);
    const pings = t.paths.pings(now);
    for (const p of pings) {
      if (send(t.peer.address, { type: 'ping', txid: p.txid }, p.to)) continue;
      // No session yet: an empty datagram to the discard port starts one (on the current path).
      // Both ends get their meet at the same moment; were both to start a handshake then, the
      // initiations would cross and the session wait for a retry (5 s). The lower address starts
      // at once, the other only if there is still no session a while later.
      t.firstNoSession ??= now;
      const mayStart = device.address < t.peer.address || now - t.firstNoSession >= KICK_EVERY;
      if (mayStart && (t.lastKick === undefined || now - t.lastKick >= KICK_EVERY)) {
        t.lastKick = now;
        ownSend = true;
        try {
          device.sendUdp(9, t.peer.address, 9, new Uint8Array(0));
        } finally {
          ownSend = false;
        }
      }
    }
    if (pings.length && device.peerStats(key)?.lastHandshake) t.firstNoSession = undefined;
    apply(key, t, now);
    const why = t.paths.why(now);
    const hub = options.hub?.();
    // No meet yet for a peer set moments ago: the hub may not have seen it yet (it joined at the
    // same time), and refuses such asks without a word; ask again soon rather than in askEvery.
    const fresh = why === 'never tried' && now - t.since < FRESH_FOR;
    const every = why === 'blocked by NAT' ? askBlockedEvery : fresh ? FRESH_ASK_EVERY : askEvery;
    if (hub && t.peer.relay && why !== undefined && (t.lastAsk === undefined || now - t.lastAsk >= every)) {
      t.lastAsk = now;
      send(hub, { type: 'ask', peer: t.peer.address, local: options.localEndpoints?.() ?? [] });
    }
  }

  /** Whether the owner works on this peer's path now: the hub, a peer without relay (nothing to choose), a small mesh, or traffic. */
  function owned(t: Tracked, now: number): boolean {
    if (!t.peer.relay || peers.size <= eagerPeers || t.peer.address === options.hub?.()) return true;
    return t.lastActive !== undefined && now - t.lastActive < activeFor;
  }

  function wake(t: Tracked, now: number): void {
    t.awake = true;
    t.since = now;
    t.lastAsk = undefined;
    t.paths.wake(now);
  }

  let timer: unknown;
  const tick = () => {
    const now = clock.now();
    for (const [key, t] of peers) {
      const own = owned(t, now);
      if (own && !t.awake) wake(t, now);
      else if (!own && t.awake) {
        t.awake = false;
        apply(key, t, now, t.paths.sleep(now));
      }
      if (own) tickPeer(key, t, now);
    }
  };
  const schedule = () => {
    timer = clock.setTimer(() => {
      tick();
      schedule();
    }, tickMs);
  };

  function onMessage(payload: Uint8Array, from: UdpSource): void {
    const m = decodeMessage(payload);
    if ('error' in m) return reject(m.error, { from: from.address });
    messages[`${m.type} received`] = (messages[`${m.type} received`] ?? 0) + 1;
    const t = peers.get(from.peer);
    // Only from a peer's own mesh address, as relay frames (relay.ts).
    if (!t || t.peer.address !== from.address) return reject('path message not from a peer\'s own address', { from: from.address });
    const now = clock.now();
    switch (m.type) {
      case 'ping':
        // Probes test direct candidates only; through the relay there is nothing to prove.
        if ('relay' in from.endpoint) return drop('ping: came through the relay', { from: from.address });
        send(from.address, { type: 'pong', txid: m.txid, observed: from.endpoint }, from.endpoint);
        return;
      case 'pong':
        if (hubPong(t, m.txid, now)) return;
        if (!t.paths.pong(m.txid, now)) return drop('pong: no such ping', { from: from.address });
        apply(from.peer, t, now);
        return;
      case 'ask': {
        if (!lighthouse) return drop('ask: not a lighthouse', { from: from.address });
        const answer = lighthouse.ask(from.address, m.peer, m.local);
        if ('refused' in answer) return drop(`ask: ${answer.refused}`, { from: from.address, peer: m.peer });
        for (const i of answer) send(i.to, i.message);
        return;
      }
      case 'meet': {
        if (from.address !== options.hub?.()) return drop('meet: not from the hub', { from: from.address });
        const key = byAddress.get(m.peer);
        const target = key && peers.get(key);
        if (!target) return drop('meet: not a peer', { peer: m.peer });
        // The far end asked for a path to us: punch now, as it is told at the same moment.
        target.lastActive = now;
        if (!target.awake) wake(target, now);
        m.endpoints.forEach((e, i) => target.paths.addCandidate(e, i === 0 ? 'lighthouse' : 'local', now));
        tickPeer(key, target, now);
        return;
      }
    }
  }

  const binding = device.bindUdp(PATHS_PORT, onMessage);

  const owner: PathOwner = {
    authenticated(key, from) {
      const t = peers.get(key);
      if (!t || 'relay' in from) return;
      const now = clock.now();
      t.paths.arrived(from, now);
      lighthouse?.observed(t.peer.address, from);
      // Without a relay the path roams to the latest source (WireGuard's rule): follow a move at once.
      const current = t.paths.current;
      if (!t.peer.relay && (!current || isRelay(current) || current.host !== from.host || current.port !== from.port)) apply(key, t, now);
    },
    send(key, datagram) {
      const t = peers.get(key);
      if (!t) return false;
      // Data wakes an idle peer at the next tick; its first datagrams take the relay meanwhile.
      if (!ownSend && datagram[0] === TRANSPORT_TYPE && datagram.length > KEEPALIVE_BYTES) t.lastActive = clock.now();
      if (!t.paths.current) apply(key, t, clock.now());
      const path = t.paths.current;
      return path ? device.sendDatagram(path, datagram) : false;
    },
  };
  device.setPathOwner(owner);
  schedule();

  return {
    setPeer(key, peer) {
      const now = clock.now();
      const known = peers.get(key);
      const t: Tracked = known ?? { peer, paths: createPeerPaths({ timings: options.timings }), since: now, awake: false };
      if (known && known.peer.address !== peer.address) byAddress.delete(known.peer.address);
      t.peer = peer;
      t.paths.setRelay(peer.relay);
      if (peer.configured) t.paths.addCandidate(peer.configured, 'configured', now);
      peers.set(key, t);
      byAddress.set(peer.address, key);
      apply(key, t, now);
    },
    removePeer(key) {
      const t = peers.get(key);
      if (!t) return;
      peers.delete(key);
      byAddress.delete(t.peer.address);
      lighthouse?.forget(t.peer.address);
    },
    status(key) {
      const t = peers.get(key);
      if (!t) return undefined;
      const now = clock.now();
      const current = t.paths.current;
      return {
        path: !current ? 'none' : isRelay(current) ? 'relayed' : 'direct',
        endpoint: describe(current),
        ...(t.paths.rtt() !== undefined && { rttMs: Math.round(t.paths.rtt()! * 10) / 10 }),
        ...(t.peer.relay && { whyNotDirect: owned(t, now) || !isRelay(current) ? t.paths.why(now) : 'idle' }),
        candidates: [...t.paths.candidates.keys()],
      };
    },
    stats: () => ({ pathChanges: counts.pathChanges, hubSilences: counts.hubSilences, messages: { ...messages }, drops: { ...drops } }),
    tick,
    close() {
      clock.clearTimer(timer);
      binding.close();
      device.setPathOwner(undefined);
      peers.clear();
    },
  };
}
