// The bind/path seam the NAT-path work plugs into (paths.ts, bind.ts), over real UDP sockets on
// loopback: classic roaming without a path owner; with one, no roaming, every authenticated
// datagram reported and every send asked of the owner; and one datagram on a chosen path (`via`).
import { expect } from 'chai';
import { createSocket, type Socket } from 'node:dgram';
import { generateSecret } from '../../core/keys/index.js';
import { createDevice, type AuthenticatedKind, type Device, type Endpoint, type PathOwner } from '../../core/wireguard/device.js';
import { nextEvent, nextHandshake, nextUdp } from './support.js';

/**
 * A second path between two devices: a UDP socket on loopback that carries what `a` sends it to
 * `b`, and what `b` sends it to `a`, counting both directions.
 */
interface Detour {
  endpoint: { host: string; port: number };
  counts: { toB: number; toA: number };
  close(): Promise<void>;
}

async function detour(a: Device, b: Device): Promise<Detour> {
  const socket: Socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const counts = { toB: 0, toA: 0 };
  socket.on('message', (msg, rinfo) => {
    if (rinfo.port === b.port) {
      counts.toA++;
      socket.send(msg, a.port, '127.0.0.1');
    } else {
      counts.toB++;
      socket.send(msg, b.port, '127.0.0.1');
    }
  });
  return {
    endpoint: { host: '127.0.0.1', port: socket.address().port },
    counts,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

/** A path owner that sends every datagram to `path` and records what it was told. */
function recordingOwner(device: () => Device, path: { to?: Endpoint }) {
  const seen: { peer: string; from: Endpoint; kind: AuthenticatedKind }[] = [];
  const asked: string[] = [];
  const owner: PathOwner = {
    authenticated(peer, from, kind) { seen.push({ peer, from, kind }); },
    send(peer, datagram) {
      asked.push(peer);
      return path.to ? device().sendDatagram(path.to, datagram) : false;
    },
  };
  return { owner, seen, asked };
}

const direct = (d: Device): Endpoint => ({ host: '127.0.0.1', port: d.port });

describe('wireguard bind and path owner seam', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => { for (const c of closers.splice(0).reverse()) await c(); });

  async function pair(): Promise<{ a: Device; b: Device; detour: Detour }> {
    const a = await createDevice({ privateKey: generateSecret(), address: '10.0.0.1', bindAddress: '127.0.0.1' });
    const b = await createDevice({ privateKey: generateSecret(), address: '10.0.0.2', bindAddress: '127.0.0.1' });
    closers.push(() => a.close(), () => b.close());
    const d = await detour(a, b);
    closers.push(() => d.close());
    return { a, b, detour: d };
  }

  /** a → b over UDP, b answering on port 7: returns what a got back. */
  async function roundTrip(a: Device, b: Device, text: string) {
    const echo = b.bindUdp(7, (payload, from) => b.sendUdp(7, from.address, from.port, payload));
    const reply = nextUdp(a, 40000);
    a.sendUdp(40000, '10.0.0.2', 7, Buffer.from(text));
    const got = await reply;
    echo.close();
    return got;
  }

  it('without a path owner roams as classic WireGuard: the source of authenticated data becomes the endpoint', async () => {
    const { a, b, detour: d } = await pair();
    a.addPeer({ publicKey: b.publicKey, allowedIPs: ['10.0.0.2/32'], endpoint: direct(b) });
    b.addPeer({ publicKey: a.publicKey, allowedIPs: ['10.0.0.1/32'] });
    await roundTrip(a, b, 'direct');
    expect(b.peerStats(a.publicKey)!.endpoint).to.equal(`127.0.0.1:${a.port}`);

    a.setEndpoint(b.publicKey, d.endpoint);
    const got = await roundTrip(a, b, 'through the detour');
    expect(got.payload.toString()).to.equal('through the detour');
    expect(b.peerStats(a.publicKey)!.endpoint).to.equal(`127.0.0.1:${d.endpoint.port}`);
    expect(d.counts.toA).to.be.greaterThan(0);
  });

  it('with a path owner does not roam, reports every authenticated datagram and sends where the owner chooses', async () => {
    const { a, b, detour: d } = await pair();
    const path: { to?: Endpoint } = { to: direct(a) };
    const owned = recordingOwner(() => b, path);
    b.setPathOwner(owned.owner);
    a.addPeer({ publicKey: b.publicKey, allowedIPs: ['10.0.0.2/32'], endpoint: direct(b) });
    b.addPeer({ publicKey: a.publicKey, allowedIPs: ['10.0.0.1/32'] });
    await roundTrip(a, b, 'direct');
    expect(owned.seen.map((s) => s.kind)).to.include.members(['initiation', 'data']);
    expect(owned.seen.every((s) => s.peer === a.publicKey && 'host' in s.from && s.from.port === a.port)).to.equal(true);
    // b answered through the owner, and learnt no endpoint of its own.
    expect(owned.asked.length).to.be.greaterThan(0);
    expect(owned.asked.every((p) => p === a.publicKey)).to.equal(true);
    expect(b.peerStats(a.publicKey)!.endpoint).to.equal(undefined);

    // a's datagrams now arrive through the detour; b keeps answering on the owner's path.
    a.setEndpoint(b.publicKey, d.endpoint);
    owned.seen.length = 0;
    const got = await roundTrip(a, b, 'through the detour');
    expect(got.payload.toString()).to.equal('through the detour');
    expect(owned.seen.some((s) => 'host' in s.from && s.from.port === d.endpoint.port && s.kind === 'data')).to.equal(true);
    expect(d.counts).to.deep.equal({ toB: 1, toA: 0 });
    expect(b.peerStats(a.publicKey)!.endpoint).to.equal(undefined);

    // The owner switches b's path to the detour: no handshake, the session carries on.
    path.to = d.endpoint;
    const again = await roundTrip(a, b, 'both through the detour');
    expect(again.payload.toString()).to.equal('both through the detour');
    expect(d.counts.toA).to.equal(1);
    expect(b.peerStats(a.publicKey)!.handshakes).to.equal(1);
  });

  it('with a path owner that has no path, counts the datagram as "no path"', async () => {
    const { a, b } = await pair();
    const owned = recordingOwner(() => a, {});
    a.setPathOwner(owned.owner);
    a.addPeer({ publicKey: b.publicKey, allowedIPs: ['10.0.0.2/32'], endpoint: direct(b) });
    expect(a.sendUdp(40000, '10.0.0.2', 7, Buffer.from('x'))).to.equal(true);
    expect(owned.asked).to.deep.equal([b.publicKey]);
    expect(a.stats().drops['no path']).to.equal(1);
  });

  it('sends one datagram on a chosen path with `via`, without changing the peer\'s path; the receiver sees which', async () => {
    const { a, b, detour: d } = await pair();
    a.setPathOwner(recordingOwner(() => a, { to: direct(b) }).owner);
    b.setPathOwner(recordingOwner(() => b, { to: direct(a) }).owner);
    a.addPeer({ publicKey: b.publicKey, allowedIPs: ['10.0.0.2/32'] });
    b.addPeer({ publicKey: a.publicKey, allowedIPs: ['10.0.0.1/32'] });
    // No session yet: a probe is refused, not staged, and starts no handshake.
    expect(a.sendUdp(40000, '10.0.0.2', 9, Buffer.from('too early'), { via: d.endpoint })).to.equal(false);
    expect(a.stats().drops['no session']).to.equal(1);
    expect(a.peerStats(b.publicKey)!.initiationsSent).to.equal(0);

    const up = nextHandshake(a);
    await roundTrip(a, b, 'direct');
    await up;
    const probe = nextUdp(b, 9);
    expect(a.sendUdp(40000, '10.0.0.2', 9, Buffer.from('probe'), { via: d.endpoint })).to.equal(true);
    const got = await probe;
    expect(got.payload.toString()).to.equal('probe');
    expect(got.from.endpoint).to.deep.equal(d.endpoint);
    expect(d.counts).to.deep.equal({ toB: 1, toA: 0 });
    // The next ordinary datagram goes on the owner's path again, not the probe's.
    await roundTrip(a, b, 'direct again');
    expect(d.counts).to.deep.equal({ toB: 1, toA: 0 });
  });

  it('reports session up and bytes each way for the path owner', async () => {
    const { a, b } = await pair();
    a.addPeer({ publicKey: b.publicKey, allowedIPs: ['10.0.0.2/32'], endpoint: direct(b) });
    b.addPeer({ publicKey: a.publicKey, allowedIPs: ['10.0.0.1/32'] });
    const up = nextEvent<{ publicKey: string; state: string }>((l) => a.on('peer', l), (l) => a.off('peer', l), 5000, (e) => e.state === 'up');
    await roundTrip(a, b, 'counted');
    expect((await up).publicKey).to.equal(b.publicKey);
    const s = a.peerStats(b.publicKey)!;
    expect(s.txBytes).to.be.greaterThan(0);
    expect(s.rxBytes).to.be.greaterThan(0);
    expect(s.lastHandshake).to.be.a('number');
  });
});
