// The diode below the stages: the mesh a node's stages get refuses, and counts, a send to a command
// port from a node that is not the authority, any send to the authority's command port, and a send
// to another node off the sync port; it drops on arrival what another node sends off the sync
// port, and anything reaching the authority's command port. Real userspace meshes on loopback; a
// datagram that passes shows the path itself works.
import { expect } from 'chai';
import { EventEmitter } from 'node:events';
import { guardDirection } from '../../core/node/direction-guard.js';
import { inbox, startNode, type TestNode } from '../mesh/support.js';

describe('diode: direction enforced by the mesh, at the sender and at the receiver', () => {
  let admin: TestNode, leased: TestNode, onprem: TestNode;
  const warnings: unknown[] = [];
  // What the tests wait for: every delivery and every warning says so (no polling, no sleeps).
  const changes = new EventEmitter();
  const until = (done: () => boolean) => new Promise<void>((resolve) => {
    const check = () => done() && (changes.off('change', check), resolve());
    changes.on('change', check);
    check();
  });
  const logger = { warn: (fields: unknown) => (warnings.push(fields), changes.emit('change')) };
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

  it("a node cannot send to another node's command port, nor to the authority's, nor to another node off the sync port", async () => {
    const mesh = guard(leased, false);
    const socket = await mesh.bind(0, () => {});
    const onpremSync = await inbox(onprem.mesh, 8094);
    const adminTelemetry = await inbox(admin.mesh, 8091);
    expect(socket.send(onprem.address, 8090, Buffer.alloc(16))).to.equal(false);
    expect(socket.send(admin.address, 8090, Buffer.alloc(16))).to.equal(false);
    expect(socket.send(onprem.address, 9000, Buffer.from('lateral, off the sync port'))).to.equal(false);
    expect(socket.send(onprem.address, 8094, Buffer.from('lateral'))).to.equal(true);
    expect(socket.send(admin.address, 8091, Buffer.from('up'))).to.equal(true);
    expect((await onpremSync.next()).payload.toString()).to.equal('lateral');
    expect((await adminTelemetry.next()).payload.toString()).to.equal('up');
    expect(mesh.status().direction).to.deep.equal({
      refusedSends: { 'command-port-not-authority': 1, 'authority-command-port': 1, 'lateral-not-sync-port': 1 }, refusedReceives: {},
    });
    expect(warnings).to.have.length(3);
    socket.close();
    onpremSync.close();
    adminTelemetry.close();
  });

  it('a node drops on arrival what another node sends off the sync port (a forged or stray lateral datagram); the sync port and the authority pass', async () => {
    const mesh = guard(onprem, false);
    const got: string[] = [];
    const listener = await mesh.bind(7000, (payload, from) => (got.push(`${from.address} ${payload}`), changes.emit('change')));
    const sync = await mesh.bind(8094, (payload, from) => (got.push(`${from.address} sync ${payload}`), changes.emit('change')));
    // Unguarded senders: a peer's own plugin, or a forger holding that peer's session.
    const fromLeased = await leased.mesh.bind(0, () => {});
    const fromAdmin = await admin.mesh.bind(0, () => {});
    fromLeased.send(onprem.address, 7000, Buffer.from('forged'));
    fromLeased.send(onprem.address, 8094, Buffer.from('record'));
    fromAdmin.send(onprem.address, 7000, Buffer.from('from the authority'));
    await until(() => got.length === 2 && warnings.length === 1);
    expect((mesh.status().direction as { refusedReceives: unknown }).refusedReceives).to.deep.equal({ 'lateral-not-sync-port': 1 });
    expect(got.sort()).to.deep.equal([`${admin.address} from the authority`, `${leased.address} sync record`]);
    for (const s of [listener, sync, fromLeased, fromAdmin]) s.close();
  });

  it("the authority takes nothing on its command port, whoever sends it", async () => {
    const mesh = guard(admin, true);
    const got: string[] = [];
    const commandPort = await mesh.bind(8090, (payload) => (got.push(String(payload)), changes.emit('change')));
    const telemetry = await mesh.bind(8091, (payload) => (got.push(String(payload)), changes.emit('change')));
    const fromLeased = await leased.mesh.bind(0, () => {});
    fromLeased.send(admin.address, 8090, Buffer.alloc(16));
    fromLeased.send(admin.address, 8091, Buffer.from('ack'));
    await until(() => got.length === 1 && warnings.length === 1);
    expect((mesh.status().direction as { refusedReceives: unknown }).refusedReceives).to.deep.equal({ 'authority-command-port': 1 });
    expect(got).to.deep.equal(['ack']);
    for (const s of [commandPort, telemetry, fromLeased]) s.close();
  });

  it('the authority sends commands to nodes, never to its own command port', async () => {
    const mesh = guard(admin, true);
    const socket = await mesh.bind(0, () => {});
    const leasedSees = await inbox(leased.mesh, 8090);
    expect(socket.send(leased.address, 8090, Buffer.from('command'))).to.equal(true);
    expect((await leasedSees.next()).payload.toString()).to.equal('command');
    expect(socket.send(admin.address, 8090, Buffer.alloc(16))).to.equal(false);
    expect(mesh.status().direction).to.deep.equal({ refusedSends: { 'authority-command-port': 1 }, refusedReceives: {} });
    // The rest of the mesh is the mesh's own.
    expect([mesh.address, mesh.mode, mesh.device]).to.deep.equal([admin.address, 'userspace', admin.mesh.device]);
    socket.close();
    leasedSees.close();
  });
});
