// The device API as the mesh layer uses it: real UDP on loopback where the socket matters, the
// in-memory link (the relay hook) where exact control over delivery does.
import { expect } from 'chai';
import { createDevice, type Device, type DropEvent } from '../../core/wireguard/device.js';
import { buildIcmpEcho, buildUdpPacket, parseIPv4 } from '../../core/wireguard/ipv4.js';
import { formatKey, generateSecret, publicKeyOf } from '../../core/keys/index.js';
import { MESSAGE_TRANSPORT } from '../../core/wireguard/messages.js';
import { linkedPair, newKey, nextEvent, nextHandshake, nextUdp, type Pair } from './support.js';

async function loopbackDevice(address: string, secret = generateSecret()): Promise<Device> {
  return createDevice({ privateKey: secret, address, bindAddress: '127.0.0.1' });
}

function peerOf(d: Device, allowedIPs: string[], extra: object = {}) {
  return { publicKey: d.publicKey, allowedIPs, endpoint: `127.0.0.1:${d.port}`, ...extra };
}

function echo(d: Device, port: number): void {
  d.bindUdp(port, (payload, from) => d.sendUdp(port, from.address, from.port, payload));
}

describe('wireguard device', () => {
  const devices: Device[] = [];
  let pair: Pair | undefined;
  afterEach(async () => {
    await Promise.all(devices.splice(0).map((d) => d.close()));
    await pair?.close();
    pair = undefined;
  });

  it('completes a handshake over UDP with a preshared key and carries UDP both ways', async () => {
    const psk = formatKey(generateSecret());
    const a = await loopbackDevice('10.0.0.1');
    const b = await loopbackDevice('10.0.0.2');
    devices.push(a, b);
    a.addPeer(peerOf(b, ['10.0.0.2/32'], { presharedKey: psk }));
    b.addPeer({ publicKey: a.publicKey, allowedIPs: ['10.0.0.1/32'], presharedKey: psk });
    echo(b, 7);
    const handshakes = Promise.all([nextHandshake(a), nextHandshake(b)]);
    const reply = nextUdp(a, 40000);
    expect(a.sendUdp(40000, '10.0.0.2', 7, Buffer.from('ping over the mesh'))).to.equal(true);
    const [ha, hb] = await handshakes;
    expect(ha).to.deep.include({ publicKey: b.publicKey, initiator: true, endpoint: `127.0.0.1:${b.port}` });
    expect(hb).to.deep.include({ publicKey: a.publicKey, initiator: false, endpoint: `127.0.0.1:${a.port}` });
    const got = await reply;
    expect(got.payload.toString()).to.equal('ping over the mesh');
    expect(got.from).to.deep.equal({ address: '10.0.0.2', port: 7, peer: b.publicKey, endpoint: { host: '127.0.0.1', port: b.port } });
    const s = a.peerStats(b.publicKey)!;
    expect(s).to.deep.include({ state: 'up', handshakes: 1, txPackets: 1, rxPackets: 1, allowedIPs: ['10.0.0.2/32'] });
    expect(s.lastHandshake).to.be.a('number');
    // b learnt a's endpoint from the authenticated initiation.
    expect(b.peerStats(a.publicKey)!.endpoint).to.equal(`127.0.0.1:${a.port}`);
  });

  it('routes by the longest AllowedIPs prefix among several peers', async () => {
    const [a, b, c] = await Promise.all([loopbackDevice('10.0.0.1'), loopbackDevice('10.0.0.2'), loopbackDevice('10.0.0.3')]);
    devices.push(a, b, c);
    a.addPeer(peerOf(b, ['10.0.0.2/32']));
    a.addPeer(peerOf(c, ['10.0.0.0/24']));
    b.addPeer({ publicKey: a.publicKey, allowedIPs: ['10.0.0.0/24'] });
    c.addPeer({ publicKey: a.publicKey, allowedIPs: ['10.0.0.0/24'] });
    const atB = nextUdp(b, 9);
    const atC = nextUdp(c, 9);
    a.sendUdp(1, '10.0.0.2', 9, Buffer.from('for b'));
    a.sendUdp(1, '10.0.0.3', 9, Buffer.from('for c'));
    expect((await atB).payload.toString()).to.equal('for b');
    expect((await atC).payload.toString()).to.equal('for c');
    expect(a.sendUdp(1, '10.0.1.1', 9, Buffer.from('nowhere'))).to.equal(false);
    expect(a.stats().drops['no route']).to.equal(1);
  });

  it('removes a peer live: its routes and sessions go, the other peer keeps its session', async () => {
    const [a, b, c] = await Promise.all([loopbackDevice('10.0.0.1'), loopbackDevice('10.0.0.2'), loopbackDevice('10.0.0.3')]);
    devices.push(a, b, c);
    a.addPeer(peerOf(b, ['10.0.0.2/32']));
    a.addPeer(peerOf(c, ['10.0.0.3/32']));
    b.addPeer({ publicKey: a.publicKey, allowedIPs: ['10.0.0.1/32'] });
    c.addPeer(peerOf(a, ['10.0.0.1/32']));
    echo(b, 7);
    echo(c, 7);
    for (const dst of ['10.0.0.2', '10.0.0.3']) {
      const r = nextUdp(a, 5000);
      a.sendUdp(5000, dst, 7, Buffer.from(dst));
      expect((await r).payload.toString()).to.equal(dst);
    }
    expect(a.removePeer(c.publicKey)).to.equal(true);
    expect(a.removePeer(c.publicKey)).to.equal(false);
    expect(a.peerStats(c.publicKey)).to.equal(undefined);
    expect(a.sendUdp(5000, '10.0.0.3', 7, Buffer.from('gone'))).to.equal(false);

    // c still holds its old session; what it sends under it is now unknown to a.
    const dropped = nextEvent<DropEvent>((l) => a.on('drop', l), (l) => a.off('drop', l), 5000);
    c.sendUdp(7, '10.0.0.1', 5000, Buffer.from('still there?'));
    expect((await dropped).reason).to.equal('transport: unknown index');

    const r = nextUdp(a, 5000);
    a.sendUdp(5000, '10.0.0.2', 7, Buffer.from('b unaffected'));
    expect((await r).payload.toString()).to.equal('b unaffected');
    expect(a.peerStats(b.publicKey)!.handshakes).to.equal(1);
  });

  it('refuses a handshake from a key it does not know, and one with the wrong preshared key', async () => {
    pair = await linkedPair({ bPeer: { publicKey: newKey().publicKey } });
    pair.a.sendUdp(1000, '10.0.0.2', 7, Buffer.from('x'));
    await pair.link.settle();
    expect(pair.b.stats().drops['initiation: unknown peer']).to.equal(1);
    expect(pair.a.peerStats(pair.b.publicKey)!.state).to.equal('handshaking');
    await pair.close();

    pair = await linkedPair({ aPeer: { presharedKey: formatKey(generateSecret()) } });
    pair.a.sendUdp(1000, '10.0.0.2', 7, Buffer.from('x'));
    await pair.link.settle();
    expect(pair.a.stats().drops['response: does not authenticate']).to.equal(1);
    expect(pair.a.peerStats(pair.b.publicKey)!.handshakes).to.equal(0);
  });

  it('drops inner packets whose source the sending peer does not own (cryptokey routing inbound)', async () => {
    pair = await linkedPair();
    const got: string[] = [];
    pair.a.bindUdp(1000, (p) => got.push(Buffer.from(p).toString()));
    // b routes both packets to a; a refuses the one whose source b does not own.
    pair.a.sendUdp(1000, '10.0.0.2', 7, Buffer.from('hello'));
    await pair.link.settle();
    pair.b.sendPacket(buildUdpPacket(parseIPv4('10.0.0.77')!, parseIPv4('10.0.0.1')!, 7, 1000, Buffer.from('spoofed')));
    pair.b.sendUdp(7, '10.0.0.1', 1000, Buffer.from('genuine'));
    await pair.link.settle();
    expect(got).to.deep.equal(['genuine']);
    expect(pair.a.stats().drops['inner: source not allowed for peer']).to.equal(1);
  });

  it('follows a peer that roams to a new endpoint, but only on authenticated packets', async () => {
    pair = await linkedPair();
    const { a, b } = pair;
    a.bindUdp(1000, () => {});
    a.sendUdp(1000, '10.0.0.2', 7, Buffer.from('hello'));
    await pair.link.settle();
    expect(a.peerStats(b.publicKey)!.endpoint).to.equal('relay:wire');

    // b's datagrams now reach a by another path.
    const viaNewPath: Buffer[] = [];
    a.setRelay('path2', (d) => { viaNewPath.push(d); b.receiveDatagram(d, { relay: 'wire' }); });
    b.setRelay('wire', (d) => setImmediate(() => a.receiveDatagram(d, { relay: 'path2' })));
    // A forged transport message from a third place does not move the endpoint.
    const forged = Buffer.alloc(64);
    forged.writeUInt32LE(MESSAGE_TRANSPORT, 0);
    a.receiveDatagram(forged, { relay: 'evil' });
    expect(a.peerStats(b.publicKey)!.endpoint).to.equal('relay:wire');

    const arrived = nextUdp(a, 2000);
    b.sendUdp(7, '10.0.0.1', 2000, Buffer.from('from elsewhere'));
    await arrived;
    expect(a.peerStats(b.publicKey)!.endpoint).to.equal('relay:path2');
    a.sendUdp(1000, '10.0.0.2', 7, Buffer.from('answer'));
    expect(viaNewPath).to.have.length(1);
  });

  it('answers ICMP echo requests to its mesh address', async () => {
    pair = await linkedPair();
    pair.a.sendPacket(buildIcmpEcho(parseIPv4('10.0.0.1')!, parseIPv4('10.0.0.2')!, 1, 1, Buffer.from('abcdefgh')));
    await pair.link.settle();
    expect(pair.b.peerStats(pair.a.publicKey)).to.deep.include({ rxPackets: 1, txPackets: 1 });
    // a has no ICMP socket: it sees a well-formed echo reply and drops it as "not a request".
    expect(pair.a.stats().drops['inner: icmp not an echo request']).to.equal(1);
  });

  it('validates what it is given', async () => {
    const a = await loopbackDevice('10.0.0.1');
    devices.push(a);
    const other = newKey();
    a.addPeer({ publicKey: other.publicKey, allowedIPs: ['10.0.0.2/32'] });
    expect(() => a.addPeer({ publicKey: other.publicKey, allowedIPs: [] })).to.throw(/already exists/);
    expect(() => a.addPeer({ publicKey: a.publicKey, allowedIPs: [] })).to.throw(/own public key/);
    expect(() => a.addPeer({ publicKey: 'short', allowedIPs: [] })).to.throw(/peer public key must be 44 characters of base64/);
    expect(() => a.addPeer({ publicKey: newKey().publicKey, allowedIPs: ['10.0.0.0/40'] })).to.throw(/prefix/);
    expect(() => a.addPeer({ publicKey: newKey().publicKey, allowedIPs: [], endpoint: 'host' })).to.throw(/endpoint/);
    expect(() => a.setEndpoint(newKey().publicKey, '127.0.0.1:1')).to.throw(/no peer/);
    a.bindUdp(53, () => {});
    expect(() => a.bindUdp(53, () => {})).to.throw(/already bound/);
    expect(() => a.bindUdp(0, () => {})).to.throw(/bad UDP port/);
    expect(() => a.sendUdp(1, '10.0.0', 2, Buffer.alloc(0))).to.throw(/not an IPv4 address/);
    await expectReject(createDevice({ privateKey: publicKeyOf(generateSecret()), address: '10.0.0' }), /not an IPv4 address/);
    // Garbage on the socket is counted, never fatal.
    a.receiveDatagram(Buffer.from('hello'), { host: '127.0.0.1', port: 9 });
    expect(a.stats().drops['not a wireguard message']).to.equal(1);
  });
});

async function expectReject(p: Promise<unknown>, re: RegExp): Promise<void> {
  try {
    await p;
  } catch (err) {
    expect((err as Error).message).to.match(re);
    return;
  }
  throw new Error('expected a rejection');
}
