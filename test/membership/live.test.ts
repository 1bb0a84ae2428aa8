// Membership as one observable store: the one way to change it saves it and then tells every
// stage at once, so stages built before a change use the new value for their next packet.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import diode from '../../plugins/pointsav-link/index.js';
import verifier from '../../plugins/verifier/index.js';
import { MESH, NODE, type MembershipChange } from '../../core/sdk/index.js';
import { fakeMesh, startStage, type StageKit } from '../../core/sdk/testing.js';
import { AUTHORITY_ADDRESS, NODE_ADDRESS, world, type World } from '../plugins/support.js';

describe('membership store', () => {
  let w: World;
  const kits: StageKit[] = [];
  beforeEach(() => (w = world()));
  afterEach(async () => {
    for (const kit of kits.splice(0)) await kit.close();
    w.cleanup();
  });

  it('saves, then announces each change with its source; refuses invalid values, changing nothing', () => {
    const store = w.nodeIdentity.membershipStore;
    const seen: MembershipChange[] = [];
    const sub = store.changes$.subscribe((c) => seen.push(c));
    const same = store.current;
    expect(store.apply({ groups: [1, 2] }, 'authority')).to.not.equal(undefined);
    expect(JSON.parse(readFileSync(w.nodeIdentity.path('membership.json'), 'utf8')).groups).to.deep.equal([1, 2]);
    expect(store.apply({ groups: [1, 2] }, 'self'), 'no news').to.equal(undefined);
    expect(store.apply({ groups: [1, 2] }, 'authority'), 'an authority update confirms').to.not.equal(undefined);
    expect(() => store.apply({ epoch: 64 }, 'authority')).to.throw(/epoch/);
    expect(store.current).to.equal(same);
    expect(w.nodeIdentity.membership).to.equal(same);
    expect([store.current.epoch, store.current.groups]).to.deep.equal([0, [1, 2]]);
    expect(seen.map((c) => [c.source, c.previous.groups, c.current.groups])).to.deep.equal([
      ['authority', [1], [1, 2]],
      ['authority', [1, 2], [1, 2]],
    ]);
    sub.unsubscribe();
  });

  it('a verifier and a diode built before a change use the new groups, epoch and authority address for the next packet', async () => {
    const mesh = fakeMesh(NODE_ADDRESS);
    const v = await startStage(verifier, { config: {}, services: { [NODE]: w.nodeIdentity, [MESH]: mesh } });
    const d = await startStage(diode, { config: { side: 'node' }, services: { [NODE]: w.nodeIdentity } });
    kits.push(v, d);
    const from = (address: string) => ({ from: { address, port: 40000 } });
    // Group 2 and epoch 1 are not yet this node's.
    v.push('datagram', w.packet(1n, { epoch: 1, selector: 0x0102 }), from(AUTHORITY_ADDRESS));
    expect(v.drops()).to.deep.equal({ 'command-no-key': 1 });
    w.nodeIdentity.membershipStore.apply({ epoch: 1, groups: [2], authority: { ...w.nodeIdentity.membership.authority, address: '10.8.0.11' } }, 'authority');
    v.push('datagram', w.packet(2n, { epoch: 1, selector: 0x0102 }), from('10.8.0.11'));
    expect(v.outputs.map((e) => (e.body as { counter: bigint }).counter)).to.deep.equal([2n]);
    d.push('datagram', w.packet(3n), from(AUTHORITY_ADDRESS));
    d.push('datagram', w.packet(4n), from('10.8.0.11'));
    expect(d.drops()).to.deep.equal({ 'link-not-authority': 1 });
    expect(d.outputs).to.have.length(1);
    expect(d.stage.status!()).to.deep.include({ authority: '10.8.0.11' });
  });
});
