// The path owner wired into the mesh (core/mesh/paths/owner.ts through mesh.ts `paths`), three
// userspace meshes on loopback: spokes A and B start relayed through the hub H, ask H to
// introduce them, punch, and go direct without a new handshake; the relay then carries nothing
// of theirs. (No NAT here: the NAT testbed's tests show the same across real NATs.)
import { expect } from 'chai';
import type { Logger } from '../../core/wireguard/device.js';
import { DEFAULT_HUB_KEEPALIVE } from '../../core/mesh/mesh.js';
import { PATHS_PORT } from '../../core/mesh/ports.js';
import { inbox, roundTrip, startNode, type TestNode } from '../mesh/support.js';

const ECHO = 7;

/** A logger that keeps what it is told, so a test can wait for a line instead of for time. */
function recorder() {
  const lines: { msg: string; obj: Record<string, unknown> }[] = [];
  const waiters = new Set<{ test: (l: (typeof lines)[number]) => boolean; resolve: () => void }>();
  const keep = (obj: object, msg: string) => {
    const l = { msg, obj: obj as Record<string, unknown> };
    lines.push(l);
    for (const w of [...waiters]) if (w.test(l)) (waiters.delete(w), w.resolve());
  };
  const logger: Logger = { debug: () => {}, info: keep, warn: keep };
  return {
    logger, lines,
    waitFor(test: (l: (typeof lines)[number]) => boolean, ms: number, what: string): Promise<void> {
      if (lines.some(test)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const w = { test, resolve: () => (clearTimeout(timer), resolve()) };
        const timer = setTimeout(() => (waiters.delete(w), reject(new Error(`waited ${ms} ms for ${what}`))), ms);
        waiters.add(w);
      });
    },
  };
}

describe('paths: the owner in the mesh (loopback)', () => {
  let hub: TestNode, a: TestNode, b: TestNode;
  let logA: ReturnType<typeof recorder>, logB: ReturnType<typeof recorder>;

  beforeEach(async () => {
    logA = recorder();
    logB = recorder();
    hub = await startNode('hub', '10.8.0.1', { relay: true, paths: {} });
    a = await startNode('a', '10.8.0.2', { paths: {}, logger: logA.logger });
    b = await startNode('b', '10.8.0.3', { paths: {}, logger: logB.logger });
    hub.mesh.setPeers([a.asPeer(), b.asPeer()]);
    a.mesh.setPeers([hub.asPeer(), b.asPeer({ via: 'hub' })]);
    b.mesh.setPeers([hub.asPeer(), a.asPeer({ via: 'hub' })]);
  });
  afterEach(async () => {
    await Promise.all([hub, a, b].map((n) => n.mesh.close()));
  });

  const upgraded = (peer: string) => (l: { msg: string; obj: Record<string, unknown> }) =>
    l.msg === 'peer path changed' && l.obj.peer === peer && l.obj.reason === 'upgrade';

  it('two spokes start relayed, are introduced by the hub and go direct on the same session', async () => {
    await inbox(b.mesh, ECHO, true);
    const fromA = await inbox(a.mesh, 0);
    await roundTrip(fromA, b, ECHO, 'through the hub first');
    await Promise.all([logA.waitFor(upgraded('b'), 10_000, 'A to go direct to B'), logB.waitFor(upgraded('a'), 10_000, 'B to go direct to A')]);

    const relayedBefore = (hub.mesh.status().relay as { framesRelayed: number }).framesRelayed;
    await roundTrip(fromA, b, ECHO, 'direct now');
    expect((hub.mesh.status().relay as { framesRelayed: number }).framesRelayed).to.equal(relayedBefore);

    const peers = (a.mesh.status().paths as { peers: Record<string, unknown>[] }).peers;
    const toB = peers.find((p) => p.name === 'b')!;
    expect(toB).to.include({ path: 'direct', endpoint: `127.0.0.1:${b.port}`, whyNotDirect: undefined });
    expect(toB.rttMs).to.be.a('number');
    expect(toB.lastHandshake).to.be.a('number');
    expect(toB.txBytes).to.be.above(0);
    expect(toB.rxBytes).to.be.above(0);
    // One session throughout: the path changed under it.
    expect(a.mesh.device!.peerStats(b.publicKey)!.handshakes).to.equal(1);
    // Each change logged once.
    expect(logA.lines.filter(upgraded('b'))).to.have.length(1);
    expect((a.mesh.status().paths as { pathChanges: number }).pathChanges).to.be.at.least(1);
  });

  it('keeps the session with the hub alive by default, and says why a peer is not direct yet', () => {
    expect(a.mesh.device!.peerStats(hub.publicKey)!.persistentKeepalive).to.equal(DEFAULT_HUB_KEEPALIVE);
    const toB = (a.mesh.status().paths as { peers: Record<string, unknown>[] }).peers.find((p) => p.name === 'b')!;
    expect(toB).to.include({ path: 'relayed', whyNotDirect: 'never tried' });
    // The hub itself has no relay to fall back to: nothing to explain.
    const toHub = (a.mesh.status().paths as { peers: Record<string, unknown>[] }).peers.find((p) => p.name === 'hub')!;
    expect(toHub).to.include({ path: 'direct', endpoint: `127.0.0.1:${hub.port}` });
    expect(toHub).not.to.have.property('whyNotDirect');
  });

  it('counts every path message that does not decode, and logs them sampled (20 a minute)', async () => {
    await inbox(a.mesh, ECHO, true);
    const fromB = await inbox(b.mesh, 0);
    await roundTrip(fromB, a, ECHO, 'a session first');
    for (let i = 0; i < 30; i++) fromB.send(a.address, PATHS_PORT, Buffer.from([0xee, i]));
    // After the garbage on the same session and path: the echo comes back once all of it is in.
    await roundTrip(fromB, a, ECHO, 'after the garbage');
    const drops = (a.mesh.status().paths as { drops: Record<string, number> }).drops;
    expect(drops).to.include({ 'path message: unsupported version': 30 });
    const logged = logA.lines.filter((l) => l.msg === 'path message rejected');
    expect(logged).to.have.length(20);
    expect(logged[0].obj).to.include({ reason: 'path message: unsupported version', from: b.address });
  });
});

// Paths on demand (owner.ts): in a mesh larger than `eagerPeers`, a pair that carries no traffic
// is left on the relay and costs nothing; data wakes it, it goes direct, and once idle again
// (`activeFor` without data) it goes back to the relay quietly.
describe('paths: owned on demand in a larger mesh (loopback)', () => {
  let hub: TestNode, a: TestNode, b: TestNode;
  let logA: ReturnType<typeof recorder>;
  const lazy = { eagerPeers: 0, activeFor: 1500 };

  beforeEach(async () => {
    logA = recorder();
    hub = await startNode('hub', '10.8.0.1', { relay: true, paths: lazy });
    a = await startNode('a', '10.8.0.2', { paths: lazy, logger: logA.logger });
    b = await startNode('b', '10.8.0.3', { paths: lazy });
    hub.mesh.setPeers([a.asPeer(), b.asPeer()]);
    a.mesh.setPeers([hub.asPeer(), b.asPeer({ via: 'hub' })]);
    b.mesh.setPeers([hub.asPeer(), a.asPeer({ via: 'hub' })]);
  });
  afterEach(async () => {
    await Promise.all([hub, a, b].map((n) => n.mesh.close()));
  });

  const pathTo = (n: TestNode, name: string) => (n.mesh.status().paths as { peers: Record<string, unknown>[] }).peers.find((p) => p.name === name)!;
  const changed = (reason: string) => (l: { msg: string; obj: Record<string, unknown> }) =>
    l.msg === 'peer path changed' && l.obj.peer === 'b' && l.obj.reason === reason;

  it('an idle pair is not probed; traffic takes it direct; idle again, it returns to the relay', async () => {
    // The hub is pinged (the spoke's watch on it) and answers: ticks have run, yet nothing went to b.
    // (No event says a pong arrived: the counter is polled.)
    const messages = () => (a.mesh.status().paths as { messages: Record<string, number> }).messages;
    for (const until = Date.now() + 10_000; !(messages()['pong received'] > 0); ) {
      expect(Date.now(), 'a pong from the hub within 10 s').to.be.below(until);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(pathTo(a, 'b')).to.include({ path: 'relayed', whyNotDirect: 'idle' });
    expect(messages()['ask sent'] ?? 0).to.equal(0);
    expect(a.mesh.device!.peerStats(b.publicKey)!.handshakes).to.equal(0);

    await inbox(b.mesh, ECHO, true);
    const fromA = await inbox(a.mesh, 0);
    await roundTrip(fromA, b, ECHO, 'wakes the pair');
    await logA.waitFor(changed('upgrade'), 10_000, 'A to go direct to B');
    expect(pathTo(a, 'b')).to.include({ path: 'direct', endpoint: `127.0.0.1:${b.port}` });

    await logA.waitFor(changed('idle'), 10_000, 'A to let the idle pair go');
    expect(pathTo(a, 'b')).to.include({ path: 'relayed', whyNotDirect: 'idle' });
    await roundTrip(fromA, b, ECHO, 'through the relay while it wakes');
    await logA.waitFor(() => logA.lines.filter(changed('upgrade')).length === 2, 10_000, 'A to go direct again');
  });
});
