// A full /24's membership over the real path (issue 18 item 1): the authority's sender, with a
// registry of 254 nodes, signs one edge node's update (253 peers, ~45 KB) as parts; they travel
// over real UDP on loopback through our userspace WireGuard, relayed by a hub (the edge and the
// authority are in different private networks, so neither learns the other's endpoint); the edge
// node's real pipeline host (membership-sync stage, membership-updates service) takes every part,
// applies the update whole, saves it and brings its mesh to 253 peers.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { pinAuthority, saveGenesisState } from '../../core/genesis/authority-pin.js';
import { genesisKeyFromSeed } from '../../core/genesis/signing-key.js';
import { startSyncPusher, type SyncPusher } from '../../core/genesis/sync-pusher.js';
import { formatKey, generateSecret, publicKeyOf } from '../../core/keys/index.js';
import { loadSecret } from '../../core/membership/instance-files.js';
import { createMembershipStore } from '../../core/membership/membership-store.js';
import { loadMembership, saveMembership, type Membership } from '../../core/membership/membership.js';
import { nodeGraphRules } from '../../core/node/graph-rules.js';
import { nodePluginFolders, nodeServices } from '../../core/node/services.js';
import type { RegistryNode } from '../../core/registry/registry.js';
import { startHost, type Host } from '../../core/runtime/host.js';
import { createPluginLoader } from '../../core/runtime/plugins.js';
import { adminRegistry, freeUdpPort } from '../genesis/support.js';
import { startNode, type TestNode } from '../mesh/support.js';
import { scratchDir, writePipeline } from '../support/pipeline.js';

describe('a 254-node membership update over real UDP, relayed by the hub, taken by the real stages', function () {
  this.timeout(60_000);
  let hub: TestNode, admin: TestNode, host: Host | undefined, pusher: SyncPusher | undefined;
  const closers: (() => unknown)[] = [];
  after(async () => {
    await pusher?.close();
    await host?.stop(Date.now() + 2_000);
    for (const close of closers.reverse()) await close();
  });

  it('the edge node takes every part, applies the update whole and has 253 peers', async () => {
    const root = scratchDir('parts');
    const adminDir = join(root, 'admin');
    mkdirSync(adminDir);
    const { pairing } = adminRegistry(adminDir);
    const registry = pairing.registry;
    closers.push(() => registry.close());
    hub = await startNode('hub', '10.8.0.1', { relay: true, forwarding: true });
    admin = await startNode('admin', '10.8.0.10');
    closers.push(() => hub.mesh.close(), () => admin.mesh.close());

    const key = genesisKeyFromSeed(randomBytes(32));
    const commandPublicKey = formatKey(publicKeyOf(generateSecret()));
    const edgeDir = join(root, 'edge-5');
    const edgeKey = formatKey(publicKeyOf(loadSecret(edgeDir, 'identity.key', true)));
    const edgePort = await freeUdpPort();
    // The edge sits in another private network (127.0.1.0/24) than the admin (127.0.0.0/24).
    const edgeListen = `127.0.1.5:${edgePort}`;
    const node = (id: number, name: string, role: string, publicKey: string, endpoint: string): RegistryNode => ({
      id, name, aliases: [], address: `10.8.0.${id}`, role, groups: role === 'os-infrastructure' ? [1] : [], takesCommands: role === 'os-infrastructure',
      publicKey, endpoint, status: 'active',
    });
    registry.upsertNode(node(1, 'hub', 'cloud-relay', hub.publicKey, `127.0.0.1:${hub.port}`), 'test');
    registry.upsertNode(node(10, 'admin', 'os-network-admin', admin.publicKey, `127.0.0.1:${admin.port}`), 'test');
    registry.upsertNode(node(5, 'edge-5', 'os-infrastructure', edgeKey, edgeListen), 'test');
    // The rest of the /24: nodes of other private networks that nobody runs here.
    for (let id = 2; id <= 254; id++) {
      if (id === 5 || id === 10) continue;
      registry.upsertNode(node(id, `edge-${id}`, 'os-infrastructure', formatKey(publicKeyOf(generateSecret())), `127.0.2.${id}:9`), 'test');
    }
    hub.mesh.setPeers([admin.asPeer(), { name: 'edge-5', publicKey: edgeKey, address: '10.8.0.5', allowedIPs: ['10.8.0.5/32'], endpoint: edgeListen }]);

    // The edge node as `ppn join` leaves it: pinned authority, a membership of the hub and the admin.
    pinAuthority(edgeDir, { genesisKey: key.publicText, commandPublicKey, nodeId: 10, address: '10.8.0.10' });
    saveGenesisState(edgeDir, { syncSeq: 0 });
    const first: Membership = {
      nodeId: 5, name: 'edge-5', role: 'os-infrastructure', address: '10.8.0.5', listen: edgeListen, groups: [1], epoch: 0,
      authority: { nodeId: 10, address: '10.8.0.10', commandPublicKey },
      peers: [hub.asPeer(), { ...admin.asPeer({ via: 'hub' }) }],
    };
    saveMembership(edgeDir, first);
    const applied: Record<string, unknown>[] = [];
    let onApplied: (() => void) | undefined;
    const logger = pino({ level: 'info' }, {
      write(line: string) {
        const r = JSON.parse(line);
        if (r.msg === 'membership updated') (applied.push(r), onApplied?.());
      },
    });
    const pipeline = writePipeline(root, { role: 'os-infrastructure', mesh: { mode: 'userspace' }, stages: { sync: { type: 'membership-sync' } } }, 'edge.pipeline.json');
    host = await startHost({ file: pipeline, services: nodeServices(), loader: createPluginLoader(nodePluginFolders()), graphRules: nodeGraphRules(), logger, instanceDir: edgeDir });

    const self: Membership = { ...first, nodeId: 10, name: 'admin', role: 'os-network-admin', address: '10.8.0.10', listen: `127.0.0.1:${admin.port}`, groups: [], peers: [] };
    const counts = new Map<string, number>();
    const done = new Promise<void>((resolve) => (onApplied = resolve));
    pusher = await startSyncPusher({
      registry, pairing, mesh: admin.mesh, key, authority: { nodeId: 10, commandPublicKey, epoch: 0 }, self: createMembershipStore(adminDir, self),
      everyMs: 2_000, pollMs: 100, count: (what) => counts.set(what, (counts.get(what) ?? 0) + 1), logger: pino({ level: 'silent' }),
    });
    await done;

    const saved = loadMembership(edgeDir);
    expect(saved.peers).to.have.length(253);
    expect(applied[0]).to.deep.include({ seq: pusher.seq() });
    expect((applied[0].peers as string[]).length).to.equal(253);
    const sync = host.status().stages.sync.counters;
    // Many parts, all but the last kept as partial, then applied once; nothing refused.
    expect(sync.partial).to.be.at.least(30);
    expect(sync.applied).to.equal(1);
    expect(Object.keys(sync).filter((k) => k.startsWith('refused.'))).to.deep.equal([]);
    // The parts came the long way: the authority reaches the edge only through the hub's relay.
    expect(admin.mesh.device!.peerStats(edgeKey)?.endpoint).to.equal('relay:10.8.0.1>10.8.0.5');
    expect(host.status().serviceStatus.mesh).to.be.an('object');
  });
});
