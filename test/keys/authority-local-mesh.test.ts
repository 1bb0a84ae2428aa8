// The authority's keys rotated over the real thing: the local mesh's four processes (hub, onprem,
// leased, admin) on userspace WireGuard over loopback UDP. While pings to leased go in through
// F8 at 50/s, the real `ppn keys rotate-authority` hands the fleet a new genesis key and then a
// new command key: every ping executes exactly once, leased pins both new keys, takes membership
// updates signed with the new genesis key, and after the switch pings are signed under epoch 1
// on the new command key. Only leased is asked: onprem stands for a node behind NAT here,
// registered without an endpoint, for which the registry makes no membership (peers.ts), so it
// takes no updates and cannot follow a hand-over (nor pins the authority). Multi-process: run under the shared lock (flock /tmp/ppn-root-tests.lock).
import { expect } from 'chai';
import { loadPinnedAuthority } from '../../core/genesis/authority-pin.js';
import type { RunningMesh } from '../../examples/local-mesh/launch.js';
import type { LocalNode } from '../../examples/local-mesh/fleet.js';
import { startPinnedLocalMesh } from '../support/local-mesh.js';
import { f8Of, pingsAt50, ppn, settled as settledOf, type F8 } from './local-mesh-kit.js';

describe('authority keys over the local mesh (multi-process)', function () {
  this.timeout(120_000);
  let mesh: RunningMesh;
  let nodes: LocalNode[];

  before(async () => {
    ({ mesh, nodes } = await startPinnedLocalMesh('authority-local-mesh'));
  });
  after(async () => mesh?.stop());

  const f8: F8 = (method, path, body) => f8Of(mesh)(method, path, body);
  const settled = (id: string) => settledOf(f8, id);
  const rotateAuthority = (...args: string[]) => {
    const admin = nodes.find((n) => n.role === 'os-network-admin')!;
    return ppn('keys', 'rotate-authority', ...args, '--overlap', '6s', '--yes', '--instance', admin.instanceDir);
  };

  it('hands over the genesis key, then the command key, while pings flow at 50/s: each runs once, the later ones under epoch 1', async () => {
    const first = await f8('POST', '/v1/intents', { text: 'ping leased' });
    expect(first.status).to.equal(200);
    await settled(first.body.id);
    const leased = mesh.nodes.get('leased')!;
    const leasedDir = nodes.find((n) => n.name === 'leased')!.instanceDir;
    const pinnedBefore = loadPinnedAuthority(leasedDir)!;
    const { ids, results } = await pingsAt50(f8, 'ping leased', 450, { 50: () => rotateAuthority('--genesis'), 150: () => rotateAuthority('--command') });
    for (const result of results) expect(result.code, result.out).to.equal(0);
    // One at a time: 450 pollers at once are more than F8's HTTP server takes.
    const records = [];
    for (const id of ids) records.push(await settled(id));
    expect(records.filter((c) => c.targets[0].status !== 'executed').map((c) => [c.id, c.targets[0].status, c.targets[0].detail])).to.deep.equal([]);
    const epochs = records.map((c) => Buffer.from(c.targets[0].packet, 'hex')[0] & 0x3f);
    expect(epochs.filter((e) => e === 1).length, 'pings signed under epoch 1 (the new command key)').to.be.greaterThan(0);
    expect(epochs.lastIndexOf(0)).to.be.lessThan(epochs.indexOf(1), 'no ping under the old key after the first under the new one');
    // Each command ran once on leased.
    const handled = leased.logs.filter((r) => r.msg === 'command handled').map((r) => String(r.counter));
    expect(new Set(handled).size).to.equal(handled.length);
    // leased pins both new keys, took membership updates signed with the new genesis key.
    const pinned = loadPinnedAuthority(leasedDir)!;
    expect(pinned.handover).to.equal(2);
    expect(pinned.genesisKey).to.not.equal(pinnedBefore.genesisKey);
    expect(pinned.commandPublicKey).to.not.equal(pinnedBefore.commandPublicKey);
    expect(pinned.previous?.genesis?.key).to.equal(pinnedBefore.genesisKey);
    const takenAt = leased.logs.findIndex((r) => r.msg === 'authority keys handed over');
    expect(leased.logs.slice(takenAt).some((r) => r.msg === 'membership updated'), 'an update signed with the new genesis key').to.equal(true);
    expect(leased.logs.filter((r) => String(r.msg).includes('refused')).map((r) => r.reason)).to.deep.equal([]);
    const nodesView = (await f8('GET', '/v1/nodes')).body.nodes.find((x: { id: number }) => x.id === 3);
    expect(nodesView.keyEpoch).to.equal(1);
  });
});
