// The authority's sender of membership updates at fleet size: a fleet joining at once must cost
// one round of updates to the nodes, not one per join (at 254 nodes each round is ~11,000 signed
// parts); the hub, which relays for everyone, still learns of every node at once; the periodic
// re-push goes only to nodes whose telemetry report does not yet confirm their version.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { genesisKeyFromSeed } from '../../core/genesis/signing-key.js';
import { startSyncPusher, PUSH_SETTLE_MS } from '../../core/genesis/sync-pusher.js';
import { parsePart } from '../../core/genesis/sync.js';
import type { Mesh, MeshHandler } from '../../core/mesh/mesh.js';
import type { Membership } from '../../core/membership/membership.js';
import type { ReportFacts } from '../../core/protocol/report-facts.js';
import { createMembershipStore } from '../../core/membership/membership-store.js';
import { adminRegistry, randomPublicKey } from './support.js';

/** The sending side of a mesh, recorded: which address got which part. */
function recordingMesh(): { mesh: Mesh; sent: { address: string; seq: number; index: number; count: number }[] } {
  const sent: { address: string; seq: number; index: number; count: number }[] = [];
  const mesh = {
    mode: 'userspace', address: '10.8.0.10',
    bind: async (_port: number, _h: MeshHandler) => ({
      port: 49152,
      send: (address: string, _p: number, payload: Uint8Array) => {
        const part = parsePart(payload);
        if (part.ok) sent.push({ address, seq: part.header.seq, index: part.header.index, count: part.header.count });
        return true;
      },
      close: () => {},
    }),
    setPeers: () => {},
    whenConnected: async () => {},
    status: () => ({}),
    close: async () => {},
  } as unknown as Mesh;
  return { mesh, sent };
}

describe('membership update sender', () => {
  it('a fleet joining at once gets one round of updates; the hub gets each change at once', async () => {
    const { dir, pairing } = adminRegistry();
    const registry = pairing.registry;
    const self: Membership = {
      nodeId: 10, name: 'admin', role: 'os-network-admin', address: '10.8.0.10', listen: '192.0.2.1:51820', groups: [], epoch: 0,
      authority: { nodeId: 10, address: '10.8.0.10', commandPublicKey: randomPublicKey() }, peers: [],
    };
    const { mesh, sent } = recordingMesh();
    const add = (id: number, role = 'os-infrastructure') => registry.upsertNode({
      id, name: `n${id}`, aliases: [], address: `10.8.0.${id}`, role, groups: [1], takesCommands: role === 'os-infrastructure',
      publicKey: randomPublicKey(), endpoint: `192.0.2.${id}:51820`, status: 'active',
    }, 'test');
    add(1, 'cloud-relay');
    const pusher = await startSyncPusher({
      registry, pairing, mesh, key: genesisKeyFromSeed(randomBytes(32)), authority: { nodeId: 10, commandPublicKey: self.authority.commandPublicKey, epoch: 0 },
      self: createMembershipStore(dir, self), everyMs: 600_000, pollMs: 600_000, count: () => {}, logger: pino({ level: 'silent' }),
    });
    try {
      // 100 nodes join one after another, each grant refreshing first (as the join server does).
      for (let id = 11; id <= 110; id++) {
        add(id);
        pusher.refresh();
      }
      const toHub = new Set(sent.filter((s) => s.address === '10.8.0.1').map((s) => s.seq));
      expect(toHub.size, 'the hub is told of every join').to.be.at.least(100);
      expect(sent.filter((s) => s.address !== '10.8.0.1'), 'nothing yet to the other nodes').to.deep.equal([]);
      await new Promise((r) => setTimeout(r, PUSH_SETTLE_MS + 100));
      const toNodes = sent.filter((s) => s.address !== '10.8.0.1');
      // One round: each of the 100 nodes gets one version, whole (every part once).
      expect(new Set(toNodes.map((s) => s.seq)).size).to.equal(1);
      expect(new Set(toNodes.map((s) => s.address)).size).to.equal(100);
      const n50 = toNodes.filter((s) => s.address === '10.8.0.50');
      expect(n50.map((s) => s.index)).to.deep.equal([...Array(n50[0].count).keys()]);
    } finally {
      await pusher.close();
      registry.close();
    }
  });

  it('re-pushes only to nodes whose report does not confirm the version they were sent', async () => {
    const { dir, pairing } = adminRegistry();
    const registry = pairing.registry;
    const self: Membership = {
      nodeId: 10, name: 'admin', role: 'os-network-admin', address: '10.8.0.10', listen: '192.0.2.1:51820', groups: [], epoch: 0,
      authority: { nodeId: 10, address: '10.8.0.10', commandPublicKey: randomPublicKey() }, peers: [],
    };
    for (const id of [1, 11, 12]) {
      registry.upsertNode({
        id, name: `n${id}`, aliases: [], address: `10.8.0.${id}`, role: id === 1 ? 'cloud-relay' : 'os-infrastructure', groups: [1],
        takesCommands: id !== 1, publicKey: randomPublicKey(), endpoint: `192.0.2.${id}:51820`, status: 'active',
      }, 'test');
    }
    const { mesh, sent } = recordingMesh();
    const pusher = await startSyncPusher({
      registry, pairing, mesh, key: genesisKeyFromSeed(randomBytes(32)), authority: { nodeId: 10, commandPublicKey: self.authority.commandPublicKey, epoch: 0 },
      self: createMembershipStore(dir, self), everyMs: 100, pollMs: 600_000, count: () => {}, logger: pino({ level: 'silent' }),
    });
    const copiesTo = (address: string) => sent.filter((s) => s.address === address && s.index === 0).length;
    const until = async (done: () => boolean, what: string) => {
      for (const end = Date.now() + 5_000; !done(); ) {
        expect(Date.now(), what).to.be.below(end);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    try {
      await until(() => copiesTo('10.8.0.11') >= 1 && copiesTo('10.8.0.12') >= 1, 'the first round');
      const version = sent.find((s) => s.address === '10.8.0.11')!.seq;
      const facts: ReportFacts = { everySeconds: 15, uptimeS: 1, version: '0', load: [0, 0, 0], rssBytes: 1, stages: {}, drops: { total: 0, top: {} }, peers: [], peerPaths: {} };
      // n11 confirms its version (its report says so); n12 reports, but an older one.
      registry.recordReport({ nodeId: 11, seq: Date.now(), facts: { ...facts, syncSeq: version } }, 60_000);
      registry.recordReport({ nodeId: 12, seq: Date.now(), facts: { ...facts, syncSeq: version - 1 } }, 60_000);
      const [n11, n12] = [copiesTo('10.8.0.11'), copiesTo('10.8.0.12')];
      await until(() => copiesTo('10.8.0.12') >= n12 + 3, 'three re-pushes to the node behind');
      expect(copiesTo('10.8.0.11'), 'no re-push to the node that confirmed').to.equal(n11);
      expect(pusher.status()).to.include({ unconfirmed: 2 }); // n12 and the hub (which sends no report here)
      // n11 behind again (its state restored from a backup): its parts were let go once it confirmed,
      // so it is sent its membership again, signed under a new seq.
      registry.recordReport({ nodeId: 11, seq: Date.now() + 1, facts: { ...facts, syncSeq: version - 1 } }, 60_000);
      await until(() => sent.some((s) => s.address === '10.8.0.11' && s.seq > version), 'a new version to the node behind again');
    } finally {
      await pusher.close();
      registry.close();
    }
  });
});
