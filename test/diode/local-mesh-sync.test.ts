// Sync sideways across processes: the local mesh (four `ppn run` nodes over userspace WireGuard)
// with onprem and leased paired — each in the other's membership, reached through the hub's
// relay — running examples/sync-sideways: a fact sent to one node's local port arrives at the
// other as a record, and the other way round. Spawns the multi-process mesh: run under the lock.
import { expect } from 'chai';
import { createSocket } from 'node:dgram';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatKey, publicKeyOf } from '../../core/keys/index.js';
import { loadSecret } from '../../core/membership/instance-files.js';
import { loadMembership, saveMembership } from '../../core/membership/membership.js';
import { projectRoot } from '../../core/project-root.js';
import { localFleet, prepareLocalMesh, type LocalNode } from '../../examples/local-mesh/fleet.js';
import { launchLocalMesh, type RunningMesh } from '../../examples/local-mesh/launch.js';
import { scratchDir } from '../support/pipeline.js';

describe('diode: sync sideways over the local mesh (4 processes; the hub relays the records)', function () {
  this.timeout(120_000);
  let mesh: RunningMesh;
  let nodes: LocalNode[];
  let root: string;
  let basePort = 0;
  /** Each node's local port for facts (below the WireGuard ports' range). */
  const factsPort = (n: LocalNode) => 20000 + (basePort % 10000) + n.id;

  before(async () => {
    root = scratchDir('diode-sync');
    basePort = 40000 + Math.floor(Math.random() * 20000);
    nodes = localFleet(root, basePort);
    prepareLocalMesh(nodes);
    const [onprem, leased] = ['onprem', 'leased'].map((name) => nodes.find((n) => n.name === name)!);
    // Pair the two edge nodes: each lists the other, reached through the hub's relay.
    for (const [self, other] of [[onprem, leased], [leased, onprem]]) {
      const membership = loadMembership(self.instanceDir)!;
      const address = `10.8.0.${other.id}`;
      membership.peers.push({ name: other.name, publicKey: formatKey(publicKeyOf(loadSecret(other.instanceDir, 'identity.key', false))), address, allowedIPs: [`${address}/32`], via: 'cloud-relay', persistentKeepalive: 5 });
      saveMembership(self.instanceDir, membership);
    }
    const example = JSON.parse(readFileSync(join(projectRoot(), 'examples/sync-sideways/os-infrastructure-sync.json'), 'utf8'));
    delete example.$schema;
    for (const n of [onprem, leased]) {
      const role = structuredClone(example);
      role.stages['local-facts'].config.port = factsPort(n);
      writeFileSync(join(root, `${n.name}.pipeline.json`), JSON.stringify(role, null, 2));
    }
    mesh = await launchLocalMesh(nodes, {
      pipelineFor: (n) => (n === onprem || n === leased ? join(root, `${n.name}.pipeline.json`) : join(projectRoot(), 'pipelines', `${n.role}.json`)),
    });
  });
  // A failure here is about timing between four processes: their logs say where the records went.
  afterEach(function () {
    if (this.currentTest?.state !== 'failed') return;
    for (const [name, r] of mesh.nodes) console.log(`--- ${name}\n${r.logs.slice(-200).map((l) => JSON.stringify(l)).join('\n')}`);
  });
  after(async () => mesh && (await mesh.stop()));

  const sendFact = (to: LocalNode, text: string) =>
    new Promise<void>((resolve, reject) => {
      const socket = createSocket('udp4');
      socket.send(text, factsPort(to), '127.0.0.1', (err) => (socket.close(), err ? reject(err) : resolve()));
    });
  const recordAt = (name: string, from: string, data: string) =>
    mesh.nodes.get(name)!.waitForLog((r) => r.msg === 'record from a paired peer' && (r.body as any)?.peer === from && (r.body as any)?.data === data);

  it('a fact given to onprem reaches leased as a record, and one given to leased reaches onprem', async () => {
    const [onprem, leased] = ['onprem', 'leased'].map((name) => nodes.find((n) => n.name === name)!);
    const deliver = async (to: LocalNode, at: string, text: string) => {
      const arrived = recordAt(at, to.name, text);
      await sendFact(to, text);
      return arrived;
    };
    const atLeased = await deliver(onprem, 'leased', '{"disk":"ok"}');
    expect((atLeased.body as any).name).to.equal('facts');
    const atOnprem = await deliver(leased, 'onprem', 'load 0.1');
    expect((atOnprem.body as any).name).to.equal('facts');
  });
});
