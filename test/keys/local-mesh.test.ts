// The key lifecycle over the real thing: the local mesh's four processes (hub, onprem, leased,
// admin) on userspace WireGuard over loopback UDP. While pings to leased go in through F8 at
// 50/s, `ppn keys rotate --node 3 --yes` (the real CLI) moves leased to epoch 1: every ping
// executes exactly once, later ones are signed under epoch 1, and leased's verifier says so.
// Multi-process: run under the shared lock (flock /tmp/ppn-root-tests.lock).
import { expect } from 'chai';
import type { RunningMesh } from '../../examples/local-mesh/launch.js';
import { startPinnedLocalMesh } from '../support/local-mesh.js';
import { f8Of, pingsAt50, ppn, settled as settledOf, type F8 } from './local-mesh-kit.js';

describe('key lifecycle over the local mesh (multi-process)', function () {
  this.timeout(120_000);
  let mesh: RunningMesh;

  before(async () => {
    ({ mesh } = await startPinnedLocalMesh('keys-local-mesh'));
  });
  after(async () => mesh?.stop());

  const f8: F8 = (method, path, body) => f8Of(mesh)(method, path, body);
  const settled = (id: string) => settledOf(f8, id);
  const rotate = () => ppn('keys', 'rotate', '--node', '3', '--yes', '--f8-url', mesh.f8Url, '--f8-token', mesh.f8Token);

  it('rotates leased while pings flow at 50/s: each runs once, the later ones under epoch 1', async () => {
    const first = await f8('POST', '/v1/intents', { text: 'ping leased' });
    expect(first.status).to.equal(200);
    await settled(first.body.id);
    const { ids, results: [result] } = await pingsAt50(f8, 'ping leased', 150, { 50: rotate });
    expect(result.code, result.out).to.equal(0);
    expect(result.out).to.include('key epoch 0 → 1');
    const records = await Promise.all(ids.map(settled));
    expect(records.filter((c) => c.targets[0].status !== 'executed').map((c) => [c.id, c.targets[0].status])).to.deep.equal([]);
    const epochs = records.map((c) => Buffer.from(c.targets[0].packet, 'hex')[0] & 0x3f);
    expect(epochs.filter((e) => e === 1).length, 'pings signed under epoch 1').to.be.greaterThan(0);
    // Each command ran once on leased.
    const leased = mesh.nodes.get('leased')!;
    const handled = leased.logs.filter((r) => r.msg === 'command handled').map((r) => String(r.counter));
    expect(new Set(handled).size).to.equal(handled.length);
    await leased.waitForLog((r) => r.msg === 'command key epoch changed' && r.to === 1);
    const nodesView = (await f8('GET', '/v1/nodes')).body.nodes.find((x: { id: number }) => x.id === 3);
    expect(nodesView.keyEpoch).to.equal(1);
  });
});
