// Classic routing on a hub (the device's forwarding mode) and the real socket's receive buffer,
// over UDP on loopback: spokes A and B each know only the hub H, whose AllowedIPs route them.
import { expect } from 'chai';
import { createDevice, type Device, type DeviceOptions, type DropEvent, type DropReason, type InnerEvent } from '../../core/wireguard/device.js';
import { buildUdpPacket, internetChecksum, parseIPv4, parseIPv4Packet } from '../../core/wireguard/ipv4.js';
import { generateSecret } from '../../core/keys/index.js';
import { nextEvent, nextUdp } from './support.js';

const device = (address: string, extra: Partial<DeviceOptions> = {}) =>
  createDevice({ privateKey: generateSecret(), address, bindAddress: '127.0.0.1', ...extra });

const hubPeer = (hub: Device, allowedIPs = ['10.0.0.0/24']) => ({ publicKey: hub.publicKey, allowedIPs, endpoint: `127.0.0.1:${hub.port}` });
const nextDrop = (d: Device, reason: DropReason) =>
  nextEvent<DropEvent>((l) => d.on('drop', l), (l) => d.off('drop', l), 5000, (e) => e.reason === reason);

describe('wireguard forwarding (a hub routing by AllowedIPs)', () => {
  let hub: Device, a: Device, b: Device;
  const open: Device[] = [];

  async function star(forwarding: boolean): Promise<void> {
    hub = await device('10.0.0.254', { forwarding });
    a = await device('10.0.0.1');
    b = await device('10.0.0.2');
    open.push(hub, a, b);
    hub.addPeer({ publicKey: a.publicKey, allowedIPs: ['10.0.0.1/32'] });
    hub.addPeer({ publicKey: b.publicKey, allowedIPs: ['10.0.0.2/32'] });
    a.addPeer({ ...hubPeer(hub), persistentKeepalive: 25 });
    b.addPeer({ ...hubPeer(hub), persistentKeepalive: 25 });
    // The keepalives bring both sessions up, so the hub knows where each spoke is.
    await Promise.all([a, b].map((s) => nextEvent((l) => s.on('handshake', l), (l) => s.off('handshake', l))));
  }

  afterEach(async () => {
    await Promise.all(open.splice(0).map((d) => d.close()));
  });

  it('carries UDP between two spokes that know only the hub, one TTL lower, and can read it', async () => {
    await star(true);
    const seenByHub: string[] = [];
    hub.on('inner', (e: InnerEvent) => seenByHub.push(e.packet.toString('latin1')));
    const ttls: number[] = [];
    b.on('inner', (e) => ttls.push(parseIPv4Packet(e.packet)!.ttl));
    b.bindUdp(7, (payload, from) => b.sendUdp(7, from.address, from.port, payload));
    const reply = nextUdp(a, 4000);
    expect(a.sendUdp(4000, '10.0.0.2', 7, Buffer.from('classic routing'))).to.equal(true);
    const got = await reply;
    expect(got.payload.toString()).to.equal('classic routing');
    expect(got.from).to.deep.include({ address: '10.0.0.2', port: 7, peer: hub.publicKey });
    expect(ttls).to.deep.equal([63]);
    expect(hub.stats().forwarded).to.equal(2);
    // Classic routing means the hub decrypts the spokes' packets: it reads them, both ways.
    expect(seenByHub.filter((p) => p.includes('classic routing'))).to.have.length(2);
  });

  it('drops packets for other addresses unless forwarding is on', async () => {
    await star(false);
    const dropped = nextDrop(hub, 'inner: not for this address');
    a.sendUdp(4000, '10.0.0.2', 7, Buffer.from('x'));
    await dropped;
    expect(hub.stats().forwarded).to.equal(0);
  });

  it('never sends a packet back to its sender, drops it at TTL 1 and without a route', async () => {
    await star(true);
    // The hub routes 10.0.0.64/26 to a as well: a packet from a to there would loop.
    hub.removePeer(a.publicKey);
    hub.addPeer({ publicKey: a.publicKey, allowedIPs: ['10.0.0.1/32', '10.0.0.64/26'], endpoint: `127.0.0.1:${a.port}` });
    a.removePeer(hub.publicKey);
    a.addPeer(hubPeer(hub, ['10.0.0.0/16']));
    const back = nextDrop(hub, 'forward: route leads back to the sender');
    a.sendUdp(4000, '10.0.0.99', 7, Buffer.from('x'));
    await back;

    const expired = nextDrop(hub, 'forward: ttl expired');
    const packet = buildUdpPacket(parseIPv4('10.0.0.1')!, parseIPv4('10.0.0.2')!, 4000, 7, Buffer.from('x'));
    packet[8] = 1;
    packet.writeUInt16BE(0, 10);
    packet.writeUInt16BE(internetChecksum(packet.subarray(0, 20)), 10);
    a.sendPacket(packet);
    await expired;

    const nowhere = nextDrop(hub, 'forward: no route');
    a.sendUdp(4000, '10.0.5.5', 7, Buffer.from('x'));
    await nowhere;
    expect(hub.stats().forwarded).to.equal(0);
  });
});

describe('wireguard device socket', () => {
  it('takes a burst of 1,000 datagrams on loopback without loss (4 MiB receive buffer)', async () => {
    const a = await device('10.0.0.1');
    const b = await device('10.0.0.2');
    try {
      a.addPeer({ publicKey: b.publicKey, allowedIPs: ['10.0.0.2/32'], endpoint: `127.0.0.1:${b.port}` });
      b.addPeer({ publicKey: a.publicKey, allowedIPs: ['10.0.0.1/32'] });
      const first = nextUdp(b, 7);
      a.sendUdp(7, '10.0.0.2', 7, Buffer.from('session'));
      await first;
      const count = 1000;
      let received = 0;
      // A datagram the kernel drops leaves no trace but the missing count: the wait is bounded.
      const all = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${received} of ${count} datagrams arrived`)), 10_000);
        b.bindUdp(8, () => { if (++received === count) (clearTimeout(timer), resolve()); });
      });
      // All of them are in the kernel's queue before b's socket is read once.
      for (let i = 0; i < count; i++) a.sendUdp(8, '10.0.0.2', 8, Buffer.alloc(1000, i));
      await all;
      expect(b.stats().drops).to.deep.equal({});
    } finally {
      await a.close();
      await b.close();
    }
  });
});
