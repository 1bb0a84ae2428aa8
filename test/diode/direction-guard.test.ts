// The diode at the sender: the mesh a node's stages get refuses, and counts, a send to a command
// port from a node that is not the authority, and any send to the authority's command port. Real
// userspace meshes on loopback; a send on another port shows the path itself works.
import { expect } from 'chai';
import { guardDirection } from '../../core/node/direction-guard.js';
import { inbox, startNode, type TestNode } from '../mesh/support.js';

describe('diode: sends to a command port, refused at the sender', () => {
  let admin: TestNode, leased: TestNode, onprem: TestNode;
  const warnings: unknown[] = [];
  const logger = { warn: (fields: unknown) => warnings.push(fields) };
  const guard = (n: TestNode, authority: boolean) => guardDirection(n.mesh, { isAuthority: () => authority, authorityAddress: () => admin.address }, logger as never);

  beforeEach(async () => {
    admin = await startNode('admin', '10.8.0.10');
    leased = await startNode('leased', '10.8.0.3');
    onprem = await startNode('onprem', '10.8.0.2');
    admin.mesh.setPeers([leased.asPeer(), onprem.asPeer()]);
    leased.mesh.setPeers([admin.asPeer(), onprem.asPeer()]);
    onprem.mesh.setPeers([admin.asPeer(), leased.asPeer()]);
    warnings.length = 0;
  });
  afterEach(async () => Promise.all([admin, leased, onprem].map((n) => n.mesh.close())));

  it("a node cannot send to another node's command port, nor to the authority's; other ports pass", async () => {
    const mesh = guard(leased, false);
    const socket = await mesh.bind(0, () => {});
    const onpremSees = await inbox(onprem.mesh, 9000);
    expect(socket.send(onprem.address, 8090, Buffer.alloc(16))).to.equal(false);
    expect(socket.send(admin.address, 8090, Buffer.alloc(16))).to.equal(false);
    expect(socket.send(onprem.address, 9000, Buffer.from('lateral'))).to.equal(true);
    expect((await onpremSees.next()).payload.toString()).to.equal('lateral');
    expect(mesh.status().direction).to.deep.equal({ refusedSends: { 'command-port-not-authority': 1, 'authority-command-port': 1 } });
    expect(warnings).to.have.length(2);
    socket.close();
    onpremSees.close();
  });

  it('the authority sends commands to nodes, never to its own command port', async () => {
    const mesh = guard(admin, true);
    const socket = await mesh.bind(0, () => {});
    const leasedSees = await inbox(leased.mesh, 8090);
    expect(socket.send(leased.address, 8090, Buffer.from('command'))).to.equal(true);
    expect((await leasedSees.next()).payload.toString()).to.equal('command');
    expect(socket.send(admin.address, 8090, Buffer.alloc(16))).to.equal(false);
    expect(mesh.status().direction).to.deep.equal({ refusedSends: { 'authority-command-port': 1 } });
    // The rest of the mesh is the mesh's own.
    expect([mesh.address, mesh.mode, mesh.device]).to.deep.equal([admin.address, 'userspace', admin.mesh.device]);
    socket.close();
    leasedSees.close();
  });
});
