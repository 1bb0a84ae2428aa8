// The hub relay (DESIGN §5), three userspace meshes on loopback: spokes A and B have no direct
// path to each other (neither knows where the other is), only each its tunnel with the hub H.
import { expect } from 'chai';
import { RELAY_PORT } from '../../core/mesh/ports.js';
import { decodeFrame, encodeFrame } from '../../core/mesh/relay.js';
import { createDevice, type Device, type InnerEvent } from '../../core/wireguard/device.js';
import { buildUdpPacket, parseIPv4, parseIPv4Packet, parseUdp } from '../../core/wireguard/ipv4.js';
import { MESSAGE_INITIATION, MESSAGE_RESPONSE, MESSAGE_TRANSPORT } from '../../core/wireguard/messages.js';
import { formatKey, generateSecret, publicKeyOf } from '../../core/keys/index.js';
import { inbox, roundTrip, startNode, type TestNode } from './support.js';

const ECHO = 7;

/** What a device decrypts: every inner packet, kept as it was handed over. */
function tap(d: Device): Buffer[] {
  const seen: Buffer[] = [];
  d.on('inner', (e: InnerEvent) => seen.push(Buffer.from(e.packet)));
  return seen;
}

describe('mesh hub relay', () => {
  let hub: TestNode, a: TestNode, b: TestNode;
  let evil: Device | undefined;

  beforeEach(async () => {
    hub = await startNode('hub', '10.8.0.1', { relay: true, forwarding: true });
    a = await startNode('a', '10.8.0.10');
    b = await startNode('b', '10.8.0.2');
  });
  afterEach(async () => {
    await Promise.all([hub, a, b].map((n) => n.mesh.close()));
    await evil?.close();
    evil = undefined;
  });

  /** Spokes know the hub directly and each other only `via` it; the hub knows both. */
  function relayOnly(): void {
    hub.mesh.setPeers([a.asPeer(), b.asPeer()]);
    a.mesh.setPeers([hub.asPeer(), b.asPeer({ via: 'hub' })]);
    b.mesh.setPeers([hub.asPeer(), a.asPeer({ via: 'hub' })]);
  }

  it('carries spoke-to-spoke traffic through the hub, which only ever decrypts ciphertext of the spokes\' session', async () => {
    relayOnly();
    const seenByHub = tap(hub.mesh.device!);
    await inbox(b.mesh, ECHO, true);
    const fromA = await inbox(a.mesh, 0);
    const marker = 'MARKER-a-to-b-7f3c91';
    await roundTrip(fromA, b, ECHO, marker);
    await roundTrip(fromA, b, ECHO, `${marker}-again`);

    // End to end: one session between A and B, reached through the relay path on both sides.
    const aSeesB = a.mesh.device!.peerStats(b.publicKey)!;
    const bSeesA = b.mesh.device!.peerStats(a.publicKey)!;
    expect(aSeesB).to.deep.include({ endpoint: 'relay:10.8.0.1>10.8.0.2', handshakes: 1, state: 'up' });
    expect(bSeesA).to.deep.include({ endpoint: 'relay:10.8.0.1>10.8.0.10', handshakes: 1, state: 'up' });

    // Everything the hub decrypted of it: relay frames, each carrying a WireGuard message of A
    // and B's own session (the handshake, then transport data) — and never the marker.
    const frames = seenByHub.map((p) => parseUdp(parseIPv4Packet(p)!)).filter((u) => u?.destinationPort === RELAY_PORT);
    expect(frames.length).to.be.at.least(6);
    const types = new Set(frames.map((u) => decodeFrame(u!.payload)!.datagram[0]));
    expect([...types].sort()).to.deep.equal([MESSAGE_INITIATION, MESSAGE_RESPONSE, MESSAGE_TRANSPORT]);
    for (const p of seenByHub) expect(p.includes(Buffer.from('MARKER'))).to.equal(false);
    expect(hub.mesh.status().relay).to.deep.include({ served: true, framesRelayed: frames.length, drops: {} });
    expect(hub.mesh.device!.stats().forwarded).to.equal(0);
  });

  it('a hub that alters a relayed datagram gets it refused by the far spoke', async () => {
    // The hub's key, but a process of our own that flips a bit in every transport datagram.
    const evilKey = generateSecret();
    await hub.mesh.close();
    evil = await createDevice({ privateKey: evilKey, address: '10.8.0.1', bindAddress: '127.0.0.1' });
    evil.addPeer({ publicKey: a.publicKey, allowedIPs: ['10.8.0.10/32'], endpoint: `127.0.0.1:${a.port}` });
    evil.addPeer({ publicKey: b.publicKey, allowedIPs: ['10.8.0.2/32'], endpoint: `127.0.0.1:${b.port}` });
    const evilHub = { name: 'hub', publicKey: formatKey(publicKeyOf(evilKey)), address: '10.8.0.1', allowedIPs: ['10.8.0.1/32'], endpoint: `127.0.0.1:${evil.port}` };
    evil.bindUdp(RELAY_PORT, (payload, from) => {
      const frame = decodeFrame(payload)!;
      const datagram = Buffer.from(frame.datagram);
      if (datagram[0] === MESSAGE_TRANSPORT && datagram.length > 32) datagram[20] ^= 1;
      evil!.sendUdp(RELAY_PORT, frame.address, RELAY_PORT, encodeFrame(from.address, datagram));
    });
    a.mesh.setPeers([evilHub, b.asPeer({ via: 'hub' })]);
    b.mesh.setPeers([evilHub, a.asPeer({ via: 'hub' })]);
    await inbox(b.mesh, ECHO);
    const refused = new Promise<void>((resolve) => b.mesh.device!.on('drop', (e) => { if (e.reason === 'transport: does not authenticate') resolve(); }));
    const fromA = await inbox(a.mesh, 0);
    fromA.send(b.address, ECHO, Buffer.from('altered on the way'));
    await refused;
    // The handshake went through (the evil hub left it alone); the altered data did not.
    expect(a.mesh.device!.peerStats(b.publicKey)!.handshakes).to.equal(1);
    expect(b.mesh.device!.peerStats(a.publicKey)!.rxPackets).to.equal(0);
  });

  it('moves to a direct path later without touching the session: only where datagrams go changes', async () => {
    relayOnly();
    await inbox(b.mesh, ECHO, true);
    const fromA = await inbox(a.mesh, 0);
    await roundTrip(fromA, b, ECHO, 'through the hub');
    const relayed = (hub.mesh.status().relay as { framesRelayed: number }).framesRelayed;

    a.mesh.setPeers([hub.asPeer(), b.asPeer()]);
    b.mesh.setPeers([hub.asPeer(), a.asPeer()]);
    await roundTrip(fromA, b, ECHO, 'direct now');
    expect(a.mesh.device!.peerStats(b.publicKey)).to.deep.include({ endpoint: `127.0.0.1:${b.port}`, handshakes: 1 });
    expect(b.mesh.device!.peerStats(a.publicKey)).to.deep.include({ endpoint: `127.0.0.1:${a.port}`, handshakes: 1 });
    expect((hub.mesh.status().relay as { framesRelayed: number }).framesRelayed).to.equal(relayed);

    // And back through the hub, still the same session.
    a.mesh.setPeers([hub.asPeer(), b.asPeer({ via: 'hub' })]);
    await roundTrip(fromA, b, ECHO, 'through the hub again');
    expect(a.mesh.device!.peerStats(b.publicKey)).to.deep.include({ endpoint: 'relay:10.8.0.1>10.8.0.2', handshakes: 1 });
    expect((hub.mesh.status().relay as { framesRelayed: number }).framesRelayed).to.be.above(relayed);
  });

  it('passes on frames only between its own peers, and spokes take them only from a peer\'s own address', async () => {
    relayOnly();
    // From A to the hub's relay port: a frame naming an address the hub has no peer for, one
    // naming A itself, and no frame at all.
    const junk = Buffer.alloc(32);
    junk[0] = MESSAGE_TRANSPORT;
    const raw = await inbox(a.mesh, 0);
    raw.send(hub.address, RELAY_PORT, encodeFrame('10.8.0.99', junk));
    raw.send(hub.address, RELAY_PORT, encodeFrame('10.8.0.10', junk));
    raw.send(hub.address, RELAY_PORT, Buffer.from('not a frame'));
    // A real exchange after them, in the same tunnel: once it is back, the hub has seen them all.
    await inbox(b.mesh, ECHO, true);
    const fromA = await inbox(a.mesh, 0);
    await roundTrip(fromA, b, ECHO, 'after the junk');
    expect((hub.mesh.status().relay as { drops: Record<string, number> }).drops)
      .to.deep.equal({ 'destination is not a peer': 1, 'relay loop': 1, 'not a relay frame': 1 });

    // B routes the whole mesh prefix to the hub (for stock peers behind it), but a frame from
    // such a peer's address (10.8.0.50) does not open a relay path: only a peer's own address does.
    b.mesh.setPeers([hub.asPeer({ allowedIPs: ['10.8.0.1/32', '10.8.0.0/24'] }), a.asPeer({ via: 'hub' })]);
    const fromStranger = buildUdpPacket(parseIPv4('10.8.0.50')!, parseIPv4(b.address)!, RELAY_PORT, RELAY_PORT, encodeFrame(a.address, junk));
    hub.mesh.device!.sendPacket(fromStranger);
    await roundTrip(fromA, b, ECHO, 'after the stranger');
    expect((b.mesh.status().relay as { drops: Record<string, number> }).drops).to.deep.equal({ "not from a peer's own address": 1 });
  });
});
