// Sync sideways: two nodes exchange named records through sync-publish / sync-receive over real
// userspace meshes on loopback, relayed by a hub that never sees them in clear; anything from a
// node that is not paired (the authority included), or a record replayed, is dropped and counted.
import { expect } from 'chai';
import { MESH, NODE, PEER_SYNC_PORT, encodeSyncRecord, type SyncRecord } from '../../core/sdk/index.js';
import { startStage, type StageKit } from '../../core/sdk/testing.js';
import { createPluginLoader } from '../../core/runtime/plugins.js';
import { validatePipelineText } from '../../core/runtime/validate.js';
import { nodePluginFolders, nodeServices } from '../../core/node/services.js';
import { nodeGraphRules } from '../../core/node/graph-rules.js';
import type { InnerEvent } from '../../core/wireguard/device.js';
import syncPublish from '../../plugins/sync-publish/index.js';
import syncReceive from '../../plugins/sync-receive/index.js';
import { inbox, membershipOf, startNode, type TestNode } from '../mesh/support.js';

describe('diode: sync sideways', () => {
  let hub: TestNode, onprem: TestNode, leased: TestNode, admin: TestNode;
  const kits: StageKit[] = [];
  /** The node service as the sync stages see it: this node's membership (the authority is admin). */
  const nodeOf = (self: TestNode, peers: TestNode[], via?: string) => {
    const membership = membershipOf(self.name, self.address, `127.0.0.1:${self.port}`, peers.map((p) => p.asPeer(via && p !== hub && p !== admin ? { via } : {})));
    membership.authority.address = admin.address;
    return { membership };
  };
  const stage = async (definition: typeof syncPublish, self: TestNode, node: object, config: object) => {
    const kit = await startStage(definition, { config, services: { [MESH]: self.mesh, [NODE]: node } });
    kits.push(kit);
    return kit;
  };

  beforeEach(async () => {
    hub = await startNode('hub', '10.8.0.1', { relay: true, forwarding: true });
    onprem = await startNode('onprem', '10.8.0.2');
    leased = await startNode('leased', '10.8.0.3');
    admin = await startNode('admin', '10.8.0.10');
    // The spokes reach each other only through the hub (no direct path); the admin directly.
    hub.mesh.setPeers([onprem.asPeer(), leased.asPeer()]);
    onprem.mesh.setPeers([hub.asPeer(), leased.asPeer({ via: 'hub' }), admin.asPeer()]);
    leased.mesh.setPeers([hub.asPeer(), onprem.asPeer({ via: 'hub' }), admin.asPeer()]);
    admin.mesh.setPeers([onprem.asPeer(), leased.asPeer()]);
  });
  afterEach(async () => {
    for (const kit of kits.splice(0)) await kit.close();
    await Promise.all([hub, onprem, leased, admin].map((n) => n.mesh.close()));
  });

  it('two paired nodes exchange records both ways through the hub, which sees only ciphertext', async () => {
    const hubSaw: Buffer[] = [];
    hub.mesh.device!.on('inner', (e: InnerEvent) => hubSaw.push(Buffer.from(e.packet)));
    const onpremNode = nodeOf(onprem, [hub, leased, admin], 'hub');
    const leasedNode = nodeOf(leased, [hub, onprem, admin], 'hub');
    const intoLeased = await stage(syncReceive, leased, leasedNode, { peers: ['onprem'] });
    const intoOnprem = await stage(syncReceive, onprem, onpremNode, { peers: ['leased'] });
    const fromOnprem = await stage(syncPublish, onprem, onpremNode, { peers: ['leased'], name: 'inventory' });
    const fromLeased = await stage(syncPublish, leased, leasedNode, { peers: ['onprem'], name: 'inventory' });

    const sent = fromOnprem.push('generated', { disks: 2, marker: 'SECRET-onprem-7c1' });
    expect(await fromOnprem.settled(sent)).to.deep.include({ status: 'delivered' });
    const [got] = await intoLeased.emitted(1);
    expect([got.kind, (got.body as SyncRecord).peer, (got.body as SyncRecord).name, (got.body as SyncRecord).data]).to.deep.equal(['record', 'onprem', 'inventory', { disks: 2, marker: 'SECRET-onprem-7c1' }]);

    fromLeased.push('generated', 'SECRET-leased-2f9', { record: 'greeting' });
    const [back] = await intoOnprem.emitted(1);
    expect(back.body).to.deep.include({ peer: 'leased', name: 'greeting', data: 'SECRET-leased-2f9' });

    // A second record of the same name is newer, so it is taken too.
    fromOnprem.push('generated', { disks: 3 });
    expect(((await intoLeased.emitted(2))[1].body as SyncRecord).data).to.deep.equal({ disks: 3 });

    expect(hubSaw.length).to.be.greaterThan(0);
    for (const p of hubSaw) expect(p.includes(Buffer.from('SECRET')), 'the hub decrypted a record').to.equal(false);
    expect(leased.mesh.device!.peerStats(onprem.publicKey)).to.deep.include({ endpoint: 'relay:10.8.0.1>10.8.0.2' });
  });

  it('drops a record from a node it is not paired with (the authority too), and a replayed one', async () => {
    const leasedNode = nodeOf(leased, [hub, onprem, admin], 'hub');
    const intoLeased = await stage(syncReceive, leased, leasedNode, { peers: ['onprem'] });
    const record = encodeSyncRecord('inventory', 42, { from: 'who' }) as Buffer;

    const fromAdmin = await inbox(admin.mesh, 0);
    expect(fromAdmin.send(leased.address, PEER_SYNC_PORT, record)).to.equal(true);
    await intoLeased.counted('dropped.not-paired', 1);

    const fromOnprem = await inbox(onprem.mesh, 0);
    fromOnprem.send(leased.address, PEER_SYNC_PORT, record);
    await intoLeased.emitted(1);
    fromOnprem.send(leased.address, PEER_SYNC_PORT, record);
    fromOnprem.send(leased.address, PEER_SYNC_PORT, Buffer.from('{"v":1,"name":"inventory"}'));
    await intoLeased.counted('dropped.stale', 1);
    await intoLeased.counted('dropped.record-malformed', 1);
    expect(intoLeased.outputs).to.have.length(1);
    fromAdmin.close();
    fromOnprem.close();
  });

  it('the publisher never sends to the authority, even when paired with it by name', async () => {
    const onpremNode = nodeOf(onprem, [hub, leased, admin], 'hub');
    const fromOnprem = await stage(syncPublish, onprem, onpremNode, { peers: ['admin'], name: 'inventory' });
    const env = fromOnprem.push('generated', { x: 1 });
    expect(await fromOnprem.settled(env)).to.deep.include({ status: 'dropped', reason: 'no-peer-reached' });
  });

  it('pipeline files: sync stages refuse the command and telemetry ports, and cannot feed an executor', async () => {
    const deps = { loader: createPluginLoader(nodePluginFolders()), services: nodeServices(), graphRules: nodeGraphRules() };
    const role = {
      role: 'sync-test',
      stages: {
        records: { type: 'sync-receive', config: { peers: ['onprem'], port: 8090 } },
        out: { type: 'sync-publish', inputs: ['records'], config: { peers: ['onprem'], name: 'x', port: 8091 } },
        run: { type: 'executor', inputs: ['records'] },
      },
    };
    const schema = await validatePipelineText('/sync.json', JSON.stringify(role, null, 2), deps);
    expect(schema.ok ? [] : schema.errors.map((e) => e.pointer)).to.have.members(['/stages/records/config/port', '/stages/out/config/port']);
    const ports = { records: { ...role.stages.records, config: { peers: ['onprem'] } }, out: { ...role.stages.out, config: { peers: ['onprem'], name: 'x' } } };
    const graph = await validatePipelineText('/sync.json', JSON.stringify({ ...role, stages: { ...role.stages, ...ports } }, null, 2), deps);
    expect(graph.ok ? [] : graph.errors.map((e) => `${e.pointer}: ${e.message}`)).to.deep.equal(['/stages/run/inputs: an executor is reached without passing the diode (pointsav-link, side node): records -> run']);
  });
});
