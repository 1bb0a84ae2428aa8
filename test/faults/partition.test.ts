// The fault suite's network partition (root only): the local mesh with each node in its own
// network namespace on one bridge (test/genesis/lan.ts), onprem listed behind the hub's relay.
// Cutting only the hub from onprem is no partition any more once the path owner has found the
// direct path between onprem and the admin (docs/nat.md), so iptables DROP in onprem's namespace
// cuts it from the hub and the admin alike: commands to onprem go unanswered (leased goes on);
// the rules removed, onprem takes commands again by itself.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { loadMembership, saveMembership } from '../../core/membership/membership.js';
import { openRegistry } from '../../core/registry/registry.js';
import type { LocalNode } from '../../examples/local-mesh/fleet.js';
import { requireNetns } from '../support/root.js';
import { run } from '../wireguard/netns.js';
import { createLan, type Lan } from '../genesis/lan.js';
import { startFaultMesh, type FaultMesh } from './support.js';

const HOSTS = ['admin', 'cloud-relay', 'onprem', 'leased'];

describe('faults: a network partition between a node and the rest of the mesh, then healed (netns)', function () {
  this.timeout(180_000);
  let lan: Lan | undefined;
  let mesh: FaultMesh | undefined;

  before(async function () {
    requireNetns(this, ['iptables']);
    lan = await createLan(randomBytes(2).toString('hex'), HOSTS);
    const l = lan;
    // The local mesh's memberships and registry name 127.0.0.1:<port>; here each host has its own address.
    const onLan = (nodes: LocalNode[]) => {
      const port = new Map(nodes.map((n) => [n.name, n.wgPort]));
      const endpointOf = (name: string) => `${l.address(name)}:${port.get(name)}`;
      for (const n of nodes) {
        const m = loadMembership(n.instanceDir);
        m.listen = endpointOf(n.name);
        for (const p of m.peers) if (p.endpoint) p.endpoint = endpointOf(p.name);
        saveMembership(n.instanceDir, m);
      }
      const admin = nodes.find((n) => n.role === 'os-network-admin')!;
      const registry = openRegistry(join(admin.instanceDir, 'admin.db'));
      try {
        for (const r of registry.nodes()) if (r.endpoint) registry.upsertNode({ ...r, endpoint: endpointOf(r.name) }, 'partition test');
      } finally {
        registry.close();
      }
    };
    mesh = await startFaultMesh('faults-partition', () => {}, onLan, { nsOf: (n) => l.ns(n.name) });
  });
  after(async () => {
    await mesh?.stop();
    await lan?.destroy();
  });

  const iptables = async (op: '-I' | '-D') => {
    const onprem = lan!.ns('onprem');
    for (const peer of ['cloud-relay', 'admin']) {
      const address = lan!.address(peer);
      for (const rule of [['INPUT', '-s', address], ['OUTPUT', '-d', address]]) {
        const r = await run('ip', ['netns', 'exec', onprem, 'iptables', op, rule[0], rule[1], rule[2], '-j', 'DROP']);
        expect(r.code, r.stderr).to.equal(0);
      }
    }
  };
  const handled = (name: string, counter: string, from: number) =>
    mesh!.nodes.get(name)!.waitForLog((r) => r.msg === 'command handled' && r.counter === counter, 8000, from).then(() => true, () => false);
  /** Sends `text` until `name` runs one of them (at most `tries`). */
  const until = async (text: string, name: string, tries: number) => {
    for (let i = 0; i < tries; i++) {
      const r = await mesh!.post(text);
      if (r?.status === 200 && (await handled(name, r.body.counter, 0))) return r.body;
    }
    return undefined;
  };

  it('onprem takes commands, not while it is cut off from the hub and the admin, and again once the partition heals', async () => {
    expect(await until('ping onprem', 'onprem', 5), 'before the partition').to.not.equal(undefined);
    await iptables('-I');
    try {
      const cut = await mesh!.post('ping the edge nodes');
      expect(cut?.status).to.equal(200);
      expect(await handled('leased', cut!.body.counter, 0), 'leased is reached directly').to.equal(true);
      expect(await handled('onprem', cut!.body.counter, 0), 'onprem is cut off').to.equal(false);
      const record = await mesh!.get(`/v1/commands/${cut!.body.id}`);
      expect(record.targets.map((t: { name: string; status: string }) => [t.name, t.status])).to.deep.equal([['onprem', 'no-answer'], ['leased', 'executed']]);
    } finally {
      await iptables('-D');
    }
    expect(await until('ping onprem', 'onprem', 8), 'after the partition healed').to.not.equal(undefined);
  });
});
