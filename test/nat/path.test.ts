// One peer's path choice (core/mesh/paths/path.ts) on a simulated network and clock: which path
// is in use, when it changes, and why a direct path is not in use.
import { expect } from 'chai';
import { createPeerPaths, keyOf, type Path, type PathChange, type PeerPaths } from '../../core/mesh/paths/path.js';
import type { Endpoint } from '../../core/underlay/endpoint.js';

const RELAY = { relay: 'hub>peer' };
const WAN: Endpoint = { host: '203.0.113.20', port: 51820 };
const LAN: Endpoint = { host: '192.168.4.3', port: 51820 };
const STEP = 250;

/** Whether a ping sent on `to` at `now` is answered, and after how many ms. */
type Network = (to: Endpoint, now: number) => number | false;

interface Run {
  paths: PeerPaths;
  changes: (PathChange & { at: number })[];
  /** Runs until `until` ms, answering pings as `net` says. */
  runTo(until: number, net: Network): void;
  now(): number;
}

function simulate(setup: (p: PeerPaths) => void = (p) => p.setRelay(RELAY)): Run {
  let n = 0;
  let txids = 0;
  const paths = createPeerPaths({ txid: () => { const b = Buffer.alloc(8); b.writeUInt32BE(++txids); return b; } });
  setup(paths);
  const changes: (PathChange & { at: number })[] = [];
  const inFlight: { at: number; txid: Buffer }[] = [];
  return {
    paths, changes, now: () => n,
    runTo(until, net) {
      for (; n <= until; n += STEP) {
        for (const f of inFlight.splice(0)) {
          if (f.at <= n) paths.pong(f.txid, f.at);
          else inFlight.push(f);
        }
        for (const ping of paths.pings(n)) {
          const rtt = net(ping.to, n);
          if (rtt !== false) inFlight.push({ at: n + rtt, txid: ping.txid });
        }
        const c = paths.evaluate(n);
        if (c) changes.push({ ...c, at: n });
      }
    },
  };
}

const direct = (p: Path | undefined) => !!p && !('relay' in p);
const reachable = (...ok: Endpoint[]): Network => (to) => (ok.some((e) => keyOf(e) === keyOf(to)) ? 20 : false);
const nothing: Network = () => false;

/** A deterministic generator (mulberry32), for loss that is the same on every run. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

describe('paths: one peer\'s path choice', () => {
  const cases: { name: string; net: Network; until: number; candidate?: Endpoint; path: 'direct' | 'relay'; why?: string; changes: number }[] = [
    { name: 'only the relay known: relayed, never tried', net: nothing, until: 5000, path: 'relay', why: 'never tried', changes: 1 },
    { name: 'a direct candidate that answers: direct within a second', net: reachable(WAN), until: 1000, candidate: WAN, path: 'direct', changes: 2 },
    { name: 'a candidate that does not answer yet: relayed, probing', net: nothing, until: 9000, candidate: WAN, path: 'relay', why: 'probing', changes: 1 },
    { name: 'a candidate that never answers: relayed, blocked by NAT', net: nothing, until: 12_000, candidate: WAN, path: 'relay', why: 'blocked by NAT', changes: 1 },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const run = simulate();
      if (c.candidate) run.paths.addCandidate(c.candidate, 'lighthouse', 0);
      run.runTo(c.until, c.net);
      expect(direct(run.paths.current)).to.equal(c.path === 'direct');
      expect(run.paths.why(run.now())).to.equal(c.why);
      expect(run.changes).to.have.length(c.changes);
    });
  }

  it('falls back to the relay within 3 s of the direct path dying, and returns once it answers again', () => {
    const run = simulate();
    run.paths.addCandidate(WAN, 'lighthouse', 0);
    run.runTo(20_000, reachable(WAN));
    expect(direct(run.paths.current)).to.equal(true);
    run.runTo(30_000, nothing);
    const down = run.changes.find((c) => c.reason === 'direct path died')!;
    expect(down.at - 20_000).to.be.at.most(3000);
    expect(run.paths.current).to.deep.equal(RELAY);
    run.runTo(60_000, reachable(WAN));
    expect(run.changes.map((c) => c.reason)).to.deep.equal(['first path', 'upgrade', 'direct path died', 'upgrade']);
    expect(direct(run.paths.current)).to.equal(true);
  });

  it('datagrams that still arrive do not keep a direct path whose pongs stopped (one way is not a path)', () => {
    const run = simulate();
    run.paths.addCandidate(WAN, 'lighthouse', 0);
    run.runTo(5000, reachable(WAN));
    for (let at = 5000; at <= 10_000; at += STEP) {
      run.paths.arrived(WAN, at);
      run.runTo(at, nothing);
    }
    expect(run.paths.current).to.deep.equal(RELAY);
    expect(run.changes.map((c) => c.reason)).to.deep.equal(['first path', 'upgrade', 'direct path died']);
  });

  it('a candidate that failed its round is reported blocked while it is retried', () => {
    const run = simulate();
    run.paths.addCandidate(WAN, 'lighthouse', 0);
    run.runTo(12_000, nothing);
    run.paths.addCandidate(WAN, 'lighthouse', run.now());
    run.runTo(13_000, nothing);
    expect(run.paths.why(run.now())).to.equal('blocked by NAT');
  });

  it('under a steady 1% loss each way the path does not change after the first upgrade (10 minutes)', () => {
    const random = prng(1);
    const run = simulate();
    run.paths.addCandidate(WAN, 'lighthouse', 0);
    run.runTo(600_000, (to, now) => (random() < 0.01 || random() < 0.01 ? false : reachable(WAN)(to, now)));
    expect(run.changes.map((c) => c.reason)).to.deep.equal(['first path', 'upgrade']);
  });

  it('a direct path that keeps dying is chosen again at most once a minute', () => {
    const run = simulate();
    run.paths.addCandidate(WAN, 'lighthouse', 0);
    // Up 10 s, down 4 s, for 15 minutes.
    run.runTo(900_000, (to, now) => (now % 14_000 < 10_000 ? reachable(WAN)(to, now) : false));
    const upgrades = run.changes.filter((c) => c.reason === 'upgrade').map((c) => c.at);
    const late = upgrades.filter((at) => at > 300_000);
    for (let i = 1; i < late.length; i++) expect(late[i] - late[i - 1]).to.be.at.least(60_000);
    expect(late.length).to.be.at.least(1);
  });

  it('of two working direct paths takes the one with the lower RTT', () => {
    const run = simulate();
    run.paths.addCandidate(WAN, 'lighthouse', 0);
    run.paths.addCandidate(LAN, 'local', 0);
    run.runTo(10_000, (to) => (keyOf(to) === keyOf(LAN) ? 1 : 30));
    expect(run.paths.current).to.deep.equal(LAN);
    expect(run.paths.why(run.now())).to.equal(undefined);
  });

  it('a blocked candidate named again by the lighthouse is probed again', () => {
    const run = simulate();
    run.paths.addCandidate(WAN, 'lighthouse', 0);
    run.runTo(12_000, nothing);
    expect(run.paths.why(run.now())).to.equal('blocked by NAT');
    run.paths.addCandidate(WAN, 'lighthouse', run.now());
    run.runTo(14_000, reachable(WAN));
    expect(run.paths.current).to.deep.equal(WAN);
  });

  it('meets from both ends at their own moments do not keep a round from ending: blocked after one round', () => {
    const run = simulate();
    run.paths.addCandidate(WAN, 'lighthouse', 0);
    // Each end asks every 10 s, 5 s apart; every ask brings a meet to both.
    for (let at = 5000; at <= 20_000; at += 5000) {
      run.runTo(at, nothing);
      run.paths.addCandidate(WAN, 'lighthouse', run.now());
    }
    expect(run.paths.why(run.now())).to.equal('blocked by NAT');
  });

  it('without a relay (the hub): the configured endpoint, then wherever the peer is proven to be, and no pings', () => {
    const run = simulate((p) => p.addCandidate(WAN, 'configured', 0));
    run.runTo(1000, nothing);
    expect(run.paths.current).to.deep.equal(WAN);
    expect(run.paths.pings(run.now())).to.deep.equal([]);
    run.paths.arrived(LAN, run.now());
    run.runTo(2000, nothing);
    expect(run.paths.current).to.deep.equal(LAN);
    expect(run.changes.map((c) => c.reason)).to.deep.equal(['first path', 'peer moved']);
  });
});
