// One peer's paths: its candidates (the hub's relay; direct endpoints configured, observed or
// told by the lighthouse), which of them are proven to work, and which one its datagrams take.
// Pure logic on the caller's clock (`now` in ms): the owner (owner.ts) sends the pings this asks
// for, feeds back pongs and authenticated arrivals, and applies the path changes it returns.
//
// Rules (after Tailscale's magicsock endpoint and Nebula's connection manager):
//   - A direct candidate of a peer with a relay is working while it has a pong (to a ping sent on
//     it) younger than deadAfter: a round trip, since datagrams that still arrive prove only one
//     way. The path in use is pinged every heartbeat, so a dead direct path is left within
//     deadAfter + one tick (< 3 s).
//   - A new candidate is probed every probeInterval for punchFor; no pong by then: blocked by NAT
//     (and said so until it answers), retried every retryBlocked, or at once when the lighthouse
//     names it again (the far end is told at the same moment, so both punch together).
//   - Upgrades go to the working candidate with the lowest RTT; another direct path replaces the
//     one in use only when its RTT is under betterRtt × the current one.
//   - Hysteresis: after falling back, a direct path must answer returnStreak pings in a row and a
//     hold-down must pass. The hold-down starts at holdDown and doubles (to holdDownMax) each time
//     a path falls back within stableAfter of being chosen, so a path that keeps dying is tried
//     at most once a minute; it resets once a direct path stays up for stableAfter.
//   - A peer the owner lets go idle (no traffic lately) goes back to the relay quietly and stops
//     being pinged; woken, every candidate starts a fresh round of probing at once.
//   - Without a relay (the hub itself, or a peer only ever seen directly) the path is where the
//     peer's authenticated datagrams last came from, else the configured one: classic WireGuard
//     roaming, at once (the owner re-decides on the arrival that moved it).
import { randomBytes } from 'node:crypto';
import type { Endpoint } from '../../underlay/endpoint.js';

export type RelayPath = { relay: string };
export type Path = Endpoint | RelayPath;
export type CandidateSource = 'configured' | 'observed' | 'lighthouse' | 'local';
/** Why a peer's datagrams do not go direct (absent while they do). */
export type WhyNotDirect = 'never tried' | 'probing' | 'blocked by NAT' | 'idle';

export interface PathTimings {
  probeInterval: number;
  heartbeat: number;
  deadAfter: number;
  punchFor: number;
  retryBlocked: number;
  holdDown: number;
  holdDownMax: number;
  stableAfter: number;
  returnStreak: number;
  betterRtt: number;
}

export const DEFAULT_PATH_TIMINGS: PathTimings = {
  probeInterval: 500,
  heartbeat: 500,
  deadAfter: 2500,
  punchFor: 10_000,
  retryBlocked: 30_000,
  holdDown: 5000,
  holdDownMax: 60_000,
  stableAfter: 60_000,
  returnStreak: 3,
  betterRtt: 0.7,
};

/** Candidates kept per peer beyond the configured one; the least recently useful go first. */
export const MAX_CANDIDATES = 8;

export interface Candidate {
  endpoint: Endpoint;
  source: CandidateSource;
  /** When its current round of probing began. */
  probingSince: number;
  lastPing?: number;
  /** Last pong to a ping sent on it: a round trip. */
  lastPong?: number;
  /** Last authenticated datagram from it: one way. */
  lastArrival?: number;
  /** A whole probing round passed without a pong, and none came since. */
  failed: boolean;
  rtt?: number;
  /** Pongs in a row, without a ping lost between them. */
  streak: number;
}

export interface PathChange {
  from: Path | undefined;
  to: Path;
  reason: 'upgrade' | 'better direct path' | 'direct path died' | 'peer moved' | 'relay set' | 'first path' | 'idle';
}

export interface Ping {
  to: Endpoint;
  txid: Buffer;
}

export const keyOf = (e: Endpoint) => `${e.host}:${e.port}`;
export const isRelay = (p: Path | undefined): p is RelayPath => !!p && 'relay' in p;
export const samePath = (a: Path | undefined, b: Path | undefined) =>
  !!a && !!b && (isRelay(a) || isRelay(b) ? isRelay(a) && isRelay(b) && a.relay === b.relay : keyOf(a) === keyOf(b));

export interface PeerPaths {
  readonly current: Path | undefined;
  readonly candidates: ReadonlyMap<string, Candidate>;
  setRelay(relay: RelayPath | undefined): void;
  /** Adds or refreshes a candidate; a lighthouse or configured mention restarts its probing once a round has ended. */
  addCandidate(endpoint: Endpoint, source: CandidateSource, now: number): void;
  /** Pings due now (each recorded as sent). */
  pings(now: number): Ping[];
  /** A pong arrived; true when it answered one of our pings. */
  pong(txid: Buffer, now: number): boolean;
  /** An authenticated datagram arrived from a direct endpoint (added as observed if new). */
  arrived(from: Endpoint, now: number): void;
  /** Re-decides the path; the change, if any (the caller logs and counts it). */
  evaluate(now: number): PathChange | undefined;
  /**
   * No traffic lately: a direct path in use goes back to the relay (no hold-down: it did not
   * fail) and pings in flight are forgotten; the change, if any. A path not pinged is not proven,
   * and the NAT mappings behind it close within minutes anyway.
   */
  sleep(now: number): PathChange | undefined;
  /** Traffic again: every candidate starts a fresh round of probing now. */
  wake(now: number): void;
  why(now: number): WhyNotDirect | undefined;
  /** RTT of the path in use, when direct and measured. */
  rtt(): number | undefined;
}

export function createPeerPaths(options: { timings?: Partial<PathTimings>; txid?: () => Buffer } = {}): PeerPaths {
  const t: PathTimings = { ...DEFAULT_PATH_TIMINGS, ...options.timings };
  const newTxid = options.txid ?? (() => randomBytes(8));
  const candidates = new Map<string, Candidate>();
  const pending = new Map<string, { key: string; sentAt: number }>();
  let relay: RelayPath | undefined;
  let current: Path | undefined;
  let chosenAt = 0;
  let holdUntil = 0;
  let hold = t.holdDown;
  let fellBack = false;

  const proof = (c: Candidate) => (relay ? c.lastPong : Math.max(c.lastPong ?? -Infinity, c.lastArrival ?? -Infinity));
  const working = (c: Candidate, now: number) => {
    const p = proof(c);
    return p !== undefined && now - p < t.deadAfter;
  };
  const probing = (c: Candidate, now: number) => now - c.probingSince < t.punchFor;
  const currentCandidate = () => (current && !isRelay(current) ? candidates.get(keyOf(current)) : undefined);

  function evict(): void {
    if (candidates.size <= MAX_CANDIDATES) return;
    const victims = [...candidates.values()]
      .filter((c) => c.source !== 'configured' && c !== currentCandidate())
      .sort((a, b) => (a.lastPong ?? a.lastArrival ?? a.probingSince) - (b.lastPong ?? b.lastArrival ?? b.probingSince));
    if (victims[0]) candidates.delete(keyOf(victims[0].endpoint));
  }

  /** Pings sent more than deadAfter ago are lost: the streak of their candidate ends. */
  function expire(now: number): void {
    for (const [txid, p] of pending) {
      if (now - p.sentAt < t.deadAfter) continue;
      pending.delete(txid);
      const c = candidates.get(p.key);
      if (c) c.streak = 0;
    }
  }

  function best(now: number, minStreak: number): Candidate | undefined {
    let pick: Candidate | undefined;
    for (const c of candidates.values()) {
      if (!working(c, now) || c.streak < minStreak) continue;
      if (!pick || (c.rtt ?? Infinity) < (pick.rtt ?? Infinity)) pick = c;
    }
    return pick;
  }

  function choose(to: Path, reason: PathChange['reason'], now: number): PathChange {
    const change = { from: current, to, reason };
    current = to;
    chosenAt = now;
    return change;
  }

  /** Where datagrams go with no working direct path. */
  function fallback(): Path | undefined {
    if (relay) return relay;
    let pick: Candidate | undefined;
    for (const c of candidates.values()) if (c.lastArrival !== undefined && (!pick || c.lastArrival > pick.lastArrival!)) pick = c;
    pick ??= [...candidates.values()].find((c) => c.source === 'configured');
    return pick?.endpoint;
  }

  return {
    get current() { return current; },
    candidates,
    setRelay(r) { relay = r; },
    addCandidate(endpoint, source, now) {
      const key = keyOf(endpoint);
      const known = candidates.get(key);
      if (known) {
        // A mention restarts a round that has ended, not one under way: both ends ask, at their own
        // moments, and each ask reaches both; restarting every time, a round would never end.
        if ((source === 'lighthouse' || source === 'configured') && !probing(known, now)) known.probingSince = now;
        if (source === 'configured') known.source = 'configured';
        return;
      }
      candidates.set(key, { endpoint: { ...endpoint }, source, probingSince: now, streak: 0, failed: false });
      evict();
    },
    pings(now) {
      expire(now);
      const out: Ping[] = [];
      // Only a peer with a relay has a second path to prove; without one, traffic is the proof.
      if (!relay) return out;
      for (const c of candidates.values()) {
        const inUse = c === currentCandidate();
        const interval = inUse ? t.heartbeat : probing(c, now) ? t.probeInterval : undefined;
        if (interval === undefined) {
          if (c.lastPong === undefined || c.lastPong < c.probingSince) c.failed = true;
          // Blocked: a fresh round every retryBlocked.
          if (now - c.probingSince < t.retryBlocked) continue;
          c.probingSince = now;
        } else if (c.lastPing !== undefined && now - c.lastPing < interval) {
          continue;
        }
        c.lastPing = now;
        const txid = newTxid();
        pending.set(txid.toString('hex'), { key: keyOf(c.endpoint), sentAt: now });
        out.push({ to: c.endpoint, txid });
      }
      return out;
    },
    pong(txid, now) {
      const id = txid.toString('hex');
      const p = pending.get(id);
      if (!p) return false;
      pending.delete(id);
      const c = candidates.get(p.key);
      if (!c) return false;
      const rtt = now - p.sentAt;
      c.rtt = c.rtt === undefined ? rtt : 0.75 * c.rtt + 0.25 * rtt;
      c.lastPong = now;
      c.failed = false;
      c.streak++;
      return true;
    },
    arrived(from, now) {
      const key = keyOf(from);
      if (!candidates.has(key)) {
        candidates.set(key, { endpoint: { ...from }, source: 'observed', probingSince: now, streak: 0, failed: false });
        evict();
      }
      candidates.get(key)!.lastArrival = now;
    },
    evaluate(now) {
      expire(now);
      if (!relay) {
        const base = fallback();
        return base && !samePath(base, current) ? choose(base, current ? 'peer moved' : 'first path', now) : undefined;
      }
      const inUse = currentCandidate();
      if (inUse && !working(inUse, now) && relay) {
        // Fell back: the next return waits longer if this path had not lasted.
        hold = fellBack && now - chosenAt < t.stableAfter ? Math.min(hold * 2, t.holdDownMax) : t.holdDown;
        holdUntil = now + hold;
        fellBack = true;
        inUse.streak = 0;
        return choose(relay, 'direct path died', now);
      }
      if (inUse && working(inUse, now)) {
        if (now - chosenAt >= t.stableAfter) {
          fellBack = false;
          hold = t.holdDown;
        }
        const other = best(now, t.returnStreak);
        if (other && other !== inUse && other.rtt !== undefined && inUse.rtt !== undefined && other.rtt < t.betterRtt * inUse.rtt && now >= holdUntil) {
          return choose(other.endpoint, 'better direct path', now);
        }
        return undefined;
      }
      if (relay && now >= holdUntil) {
        const up = best(now, fellBack ? t.returnStreak : 1);
        if (up) return choose(up.endpoint, 'upgrade', now);
      }
      const base = fallback();
      if (base && !samePath(base, current) && (!inUse || !working(inUse, now))) {
        return choose(base, !current ? 'first path' : isRelay(base) ? 'relay set' : 'peer moved', now);
      }
      return undefined;
    },
    sleep(now) {
      pending.clear();
      for (const c of candidates.values()) c.streak = 0;
      return relay && currentCandidate() ? choose(relay, 'idle', now) : undefined;
    },
    wake(now) {
      for (const c of candidates.values()) {
        c.probingSince = now;
        c.failed = false;
      }
    },
    why(now) {
      if (current && !isRelay(current)) return undefined;
      if (candidates.size === 0) return 'never tried';
      for (const c of candidates.values()) if (working(c, now) || (probing(c, now) && !c.failed)) return 'probing';
      return 'blocked by NAT';
    },
    rtt: () => currentCandidate()?.rtt,
  };
}
