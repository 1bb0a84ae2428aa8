// The mesh API the stages and the membership sync use: peers added, removed and changed live,
// each change touching only the peer it is about. Userspace meshes on loopback.
import { expect } from 'chai';
import { inbox, roundTrip, startNode, type TestNode } from './support.js';

const ECHO = 7;

describe('mesh peers, live', () => {
  const nodes: TestNode[] = [];
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.mesh.close()));
  });

  async function start(name: string, address: string): Promise<TestNode> {
    const n = await startNode(name, address);
    nodes.push(n);
    await inbox(n.mesh, ECHO, true);
    return n;
  }

  it('adds and removes peers without disturbing the others', async () => {
    const a = await start('a', '10.8.0.10');
    const [b, c, d] = await Promise.all([start('b', '10.8.0.2'), start('c', '10.8.0.3'), start('d', '10.8.0.4')]);
    for (const n of [b, c, d]) n.mesh.setPeers([a.asPeer()]);
    a.mesh.setPeers([b.asPeer(), c.asPeer()]);
    const fromA = await inbox(a.mesh, 0);
    await roundTrip(fromA, b, ECHO, 'to b');
    await roundTrip(fromA, c, ECHO, 'to c');
    let handshakes = 0;
    a.mesh.device!.on('handshake', () => handshakes++);

    a.mesh.setPeers([b.asPeer(), d.asPeer()]);
    expect(fromA.send(c.address, ECHO, Buffer.from('c is gone'))).to.equal(false);
    await a.mesh.whenConnected(d.address, 10_000);
    await roundTrip(fromA, d, ECHO, 'to d');
    await roundTrip(fromA, b, ECHO, 'b still there');
    expect(handshakes, 'only the new peer shook hands').to.equal(1);
    expect(a.mesh.device!.peerStats(b.publicKey)).to.deep.include({ handshakes: 1, state: 'up' });
    expect(a.mesh.device!.peerStats(c.publicKey)).to.equal(undefined);
    await a.mesh.whenConnected(b.address, 1000);
    await a.mesh.whenConnected(c.address, 1000).then(() => expect.fail('c was removed'), (err: Error) => {
      expect(err.message).to.match(/no peer with mesh address 10\.8\.0\.3/);
    });
  });

  it('changes a peer\'s AllowedIPs under its live session', async () => {
    const a = await start('a', '10.8.0.10');
    const b = await start('b', '10.8.0.2');
    b.mesh.setPeers([a.asPeer()]);
    a.mesh.setPeers([b.asPeer()]);
    const fromA = await inbox(a.mesh, 0);
    await roundTrip(fromA, b, ECHO, 'before');
    expect(fromA.send('10.8.0.77', ECHO, Buffer.from('x'))).to.equal(false);
    a.mesh.setPeers([b.asPeer({ allowedIPs: ['10.8.0.2/32', '10.8.0.64/26'] })]);
    expect(fromA.send('10.8.0.77', ECHO, Buffer.from('x'))).to.equal(true);
    await roundTrip(fromA, b, ECHO, 'after');
    expect(a.mesh.device!.peerStats(b.publicKey)).to.deep.include({ handshakes: 1, allowedIPs: ['10.8.0.2/32', '10.8.0.64/26'] });
  });

  it('leaves a peer whose `via` names no other peer without a path until it makes contact', async () => {
    const a = await start('a', '10.8.0.10');
    const b = await start('b', '10.8.0.2');
    a.mesh.setPeers([b.asPeer({ via: 'nobody' })]);
    b.mesh.setPeers([a.asPeer()]);
    const fromA = await inbox(a.mesh, 0);
    expect(a.mesh.device!.peerStats(b.publicKey)!.endpoint).to.equal(undefined);
    // b knows where a is: its first packet gives a the path back.
    const fromB = await inbox(b.mesh, 0);
    await roundTrip(fromB, a, ECHO, 'b first');
    await roundTrip(fromA, b, ECHO, 'then a');
    expect(a.mesh.device!.peerStats(b.publicKey)!.endpoint).to.equal(`127.0.0.1:${b.port}`);
  });
});
