import { expect } from 'chai';
import { admit, allocateId, type AdmissionPolicy } from '../../core/genesis/admission.js';
import { openPairing } from '../../core/genesis/pairing.js';
import { openRegistry } from '../../core/registry/registry.js';
import { adminRegistry, randomPublicKey } from './support.js';

const approve: AdmissionPolicy = { auto: false, maxPending: 32, groupsByRole: { 'os-infrastructure': [1] } };
const request = (over: Partial<Parameters<typeof admit>[1]> = {}) => ({ publicKey: randomPublicKey(), name: 'edge', role: 'os-infrastructure', listen: '192.0.2.7:51820', ...over });

describe('admission and address allocation', () => {
  it('allocates the lowest id never used; 1 only to the hub', () => {
    expect(allocateId([10], 'os-infrastructure')).to.equal(2);
    expect(allocateId([10], 'cloud-relay')).to.equal(1);
    expect(allocateId([1, 2, 3, 5, 10], 'os-infrastructure')).to.equal(4);
    expect(allocateId([10, 2], 'cloud-relay')).to.equal(1);
    expect(allocateId([1, 10], 'cloud-relay')).to.equal(2);
    const all = Array.from({ length: 254 }, (_, i) => i + 1);
    expect(allocateId(all.filter((id) => id !== 1), 'os-infrastructure')).to.equal(undefined);
    expect(allocateId(all.filter((id) => id !== 1), 'cloud-relay')).to.equal(1);
  });

  it('keeps a new node pending with a join code until approved; asking again changes nothing', () => {
    const { pairing } = adminRegistry();
    const r = request();
    const first = admit(pairing, r, approve);
    expect(first).to.include({ status: 'pending', created: true });
    if (first.status !== 'pending') throw new Error('pending expected');
    expect(first.node).to.include({ id: 2, address: '10.8.0.2', name: 'edge', status: 'pending' });
    expect(first.node.groups).to.deep.equal([1]);
    const again = admit(pairing, r, approve);
    expect(again).to.deep.include({ status: 'pending', code: first.code, created: false });
    expect(pairing.registry.nodes()).to.have.length(2);
    expect(pairing.find(first.code)?.id).to.equal(2);

    pairing.approve(2, 'operator');
    expect(admit(pairing, r, approve)).to.deep.include({ status: 'granted', via: 'already-active' });
    expect(pairing.registry.fleet().nodes.map((n) => n.name)).to.include('edge');
    const log = pairing.registry.auditLog(10).map((a) => a.action);
    expect(log).to.include.members(['node.upsert', 'node.status']);
  });

  it('admits at once with a one-time token, a claim (pre-approved key) or the auto policy', () => {
    const { pairing } = adminRegistry();
    const token = pairing.createToken('operator', 60_000);
    expect(admit(pairing, request({ token }), approve)).to.deep.include({ status: 'granted', via: 'token' });
    expect(admit(pairing, request({ token }), approve)).to.deep.include({ status: 'refused', refusal: 'bad-token' });
    const claimed = randomPublicKey();
    pairing.preapprove(claimed, 'operator');
    expect(admit(pairing, request({ publicKey: claimed }), approve)).to.deep.include({ status: 'granted', via: 'claim' });
    expect(pairing.hasPreapproval(claimed)).to.equal(false);
    expect(admit(pairing, request(), { ...approve, auto: true })).to.deep.include({ status: 'granted', via: 'auto' });
    // Names are made unique; ids count up.
    expect(pairing.registry.nodes().map((n) => [n.id, n.name])).to.deep.equal([[2, 'edge'], [3, 'edge-2'], [4, 'edge-3'], [10, 'admin']]);
  });

  it('refuses expired tokens and changes nothing', () => {
    let now = 1_000_000;
    const { file } = adminRegistry();
    const pairing = openPairing(openRegistry(file), () => now);
    const token = pairing.createToken('operator', 1000);
    now += 1001;
    expect(admit(pairing, request({ token }), approve)).to.deep.include({ status: 'refused', refusal: 'bad-token' });
    expect(pairing.registry.nodes()).to.have.length(1);
  });

  it('never hands out a revoked id again, and refuses the revoked key', () => {
    const { pairing } = adminRegistry();
    const r = request();
    admit(pairing, r, { ...approve, auto: true });
    pairing.revoke(2, 'operator');
    expect(admit(pairing, r, approve)).to.deep.include({ status: 'refused', refusal: 'revoked' });
    const next = admit(pairing, request(), { ...approve, auto: true });
    expect(next.status === 'granted' && next.node.id).to.equal(3);
  });

  it('refuses when the pool is exhausted, with the reason, changing nothing', () => {
    const { pairing } = adminRegistry();
    for (let id = 2; id <= 254; id++) {
      if (id === 10) continue;
      pairing.registry.upsertNode({ id, name: `n${id}`, aliases: [], address: `10.8.0.${id}`, role: 'os-infrastructure', groups: [], takesCommands: true, publicKey: randomPublicKey(), status: 'active' }, 'test');
    }
    const before = pairing.registry.nodes().length;
    const token = pairing.createToken('operator', null);
    const refused = admit(pairing, request({ token }), approve);
    expect(refused).to.deep.include({ status: 'refused', refusal: 'pool-exhausted' });
    expect(refused.status === 'refused' && refused.reason).to.match(/address pool is exhausted/);
    expect(pairing.registry.nodes().length).to.equal(before);
    expect(pairing.tokenValid(token)).to.equal(true);
    // The hub's reserved id is still there for a hub.
    expect(admit(pairing, request({ role: 'cloud-relay', token }), approve)).to.deep.include({ status: 'granted', via: 'token' });
  });

  it('once every id was used, gives the id of the node revoked longest ago: its key stays refused, what was kept for it is forgotten', () => {
    const { pairing } = adminRegistry();
    const { registry } = pairing;
    const keys = new Map<number, string>();
    for (let id = 2; id <= 254; id++) {
      if (id === 10) continue;
      keys.set(id, randomPublicKey());
      registry.upsertNode({ id, name: `n${id}`, aliases: [], address: `10.8.0.${id}`, role: 'os-infrastructure', groups: [], takesCommands: true, publicKey: keys.get(id)!, status: 'active' }, 'test');
    }
    // Node 7 is revoked first, then 5; node 7 had moved to key epoch 1 and reported.
    registry.advanceKeyEpoch(7, 0, 'test', 'test');
    const facts = { everySeconds: 15, uptimeS: 1, version: '0', load: [0, 0, 0] as [number, number, number], rssBytes: 1, stages: {}, drops: { total: 0, top: {} }, peers: [], peerPaths: {} };
    registry.recordReport({ nodeId: 7, seq: Date.now(), facts }, 60_000);
    pairing.revoke(7, 'operator');
    pairing.revoke(5, 'operator');

    const first = admit(pairing, request({ name: 'newcomer' }), { ...approve, auto: true });
    expect(first.status === 'granted' && first.node).to.deep.include({ id: 7, name: 'newcomer', status: 'active' });
    const reused = registry.node(7)!;
    expect(reused.keyEpoch).to.equal(undefined);
    expect(reused.report).to.equal(undefined);
    expect(registry.auditLog(5).map((a) => a.action)).to.include('node.id-reclaimed');
    // The revoked node's key cannot come back, under any id.
    const again = admit(pairing, request({ publicKey: keys.get(7)! }), { ...approve, auto: true });
    expect(again).to.deep.equal({ status: 'refused', refusal: 'revoked', reason: 'this key belonged to revoked node 7 (n7), whose id was given again' });

    expect(admit(pairing, request(), { ...approve, auto: true })).to.deep.nested.include({ status: 'granted', 'node.id': 5 });
    expect(admit(pairing, request(), { ...approve, auto: true })).to.deep.include({ status: 'refused', refusal: 'pool-exhausted' });
  });

  it("refuses a key a node replaced by an identity change, saying whose it was", () => {
    const { pairing } = adminRegistry();
    const old = request();
    const joined = admit(pairing, old, { ...approve, auto: true });
    expect(joined.status).to.equal('granted');
    const id = joined.status === 'granted' ? joined.node.id : 0;
    expect(pairing.registry.changeIdentity({ nodeId: id, epoch: 0, publicKey: randomPublicKey() }, 0, 60_000)).to.deep.include({ changed: true });
    const before = pairing.registry.nodes();
    expect(admit(pairing, request({ publicKey: old.publicKey }), { ...approve, auto: true })).to.deep.equal({
      status: 'refused', refusal: 'revoked', reason: `this key was node ${id}'s identity key until it changed it: a replaced key never joins again`,
    });
    expect(pairing.registry.nodes()).to.deep.equal(before);
  });

  it('caps pending requests (a flood of keys cannot eat the pool) but not admitted ones', () => {
    const { pairing } = adminRegistry();
    const policy = { ...approve, maxPending: 2 };
    admit(pairing, request(), policy);
    admit(pairing, request(), policy);
    expect(admit(pairing, request(), policy)).to.deep.include({ status: 'refused', refusal: 'too-many-pending' });
    expect(admit(pairing, request({ token: pairing.createToken('operator', null) }), policy)).to.deep.include({ status: 'granted' });
  });

  // issue 12 item 8: join-request exhaustion.
  it('caps pending requests per source address; other sources still get in', () => {
    const { pairing } = adminRegistry();
    const policy = { ...approve, maxPendingPerSource: 2 };
    admit(pairing, request({ source: '192.0.2.66' }), policy);
    admit(pairing, request({ source: '192.0.2.66' }), policy);
    expect(admit(pairing, request({ source: '192.0.2.66' }), policy)).to.deep.include({ status: 'refused', refusal: 'too-many-pending-from-source' });
    expect(admit(pairing, request({ source: '192.0.2.7' }), policy)).to.deep.include({ status: 'pending', created: true });
    expect(pairing.pendingCount()).to.equal(3);
  });

  it('pending requests nobody asks about again expire and give their ids back; a waiting node never expires', () => {
    let now = 1_000_000;
    const { file } = adminRegistry();
    const pairing = openPairing(openRegistry(file), () => now);
    const policy = { ...approve, maxPending: 2, pendingTtlMs: 60_000 };
    const waiting = request();
    admit(pairing, waiting, policy);
    admit(pairing, request(), policy);
    expect(admit(pairing, request(), policy)).to.deep.include({ status: 'refused', refusal: 'too-many-pending' });
    // The real node asks every second; the flood's key never asks again.
    for (let i = 0; i < 61; i++) {
      now += 1000;
      expect(admit(pairing, waiting, policy)).to.deep.include({ status: 'pending', created: false });
    }
    const fresh = admit(pairing, request(), policy);
    expect(fresh).to.deep.include({ status: 'pending', created: true });
    expect(fresh.status === 'pending' && fresh.node.id).to.equal(3);
    expect(pairing.registry.nodes().map((n) => [n.id, n.status])).to.deep.equal([[2, 'pending'], [3, 'pending'], [10, 'active']]);
    expect(pairing.registry.auditLog(20).some((a) => a.action === 'node.remove' && a.actor === 'genesis:expired')).to.equal(true);
  });

  it('rejecting never-admitted requests, again and again, does not use the pool up; the rejected key stays refused', () => {
    const { pairing } = adminRegistry();
    let rejected;
    for (let round = 0; round < 300; round++) {
      rejected = request();
      const asked = admit(pairing, rejected, approve);
      expect(asked.status === 'pending' && asked.node.id).to.equal(2);
      expect(pairing.revoke(2, 'operator').status).to.equal('revoked');
    }
    expect(admit(pairing, rejected!, approve)).to.deep.include({ status: 'refused', refusal: 'revoked' });
    // An admitted node that is revoked keeps its id used.
    admit(pairing, request(), { ...approve, auto: true });
    pairing.revoke(2, 'operator');
    const next = admit(pairing, request(), approve);
    expect(next.status === 'pending' && next.node.id).to.equal(3);
  });

  it('two connections admitting at the same time never share an id', () => {
    const { file, pairing } = adminRegistry();
    const other = openPairing(openRegistry(file));
    const granted = [];
    for (let i = 0; i < 20; i++) {
      granted.push(admit(i % 2 ? pairing : other, request({ name: `n${i}` }), { ...approve, auto: true }));
    }
    const ids = granted.map((g) => (g.status === 'granted' ? g.node.id : 0));
    expect(new Set(ids).size).to.equal(20);
    expect(ids).to.not.include(0);
    other.registry.close();
  });

  it('approves, revokes and renames with precise refusals', () => {
    const { pairing } = adminRegistry();
    admit(pairing, request(), approve);
    expect(() => pairing.approve(99, 'op')).to.throw('no node with id 99');
    expect(() => pairing.revoke(10, 'op')).to.throw('the authority itself');
    expect(() => pairing.rename(2, 'admin', 'op')).to.throw("the name 'admin' is taken by node 10");
    expect(() => pairing.rename(2, 'Bad Name', 'op')).to.throw("invalid name 'Bad Name'");
    expect(pairing.rename(2, 'leased', 'op').name).to.equal('leased');
    expect(pairing.approve(2, 'op').status).to.equal('active');
    expect(() => pairing.approve(2, 'op')).to.throw('node 2 (leased) is active; only a pending node can be made active');
    expect(pairing.revoke(2, 'op').status).to.equal('revoked');
    expect(() => pairing.revoke(2, 'op')).to.throw('is revoked');
    expect(pairing.registry.fleet().nodes.map((n) => n.id)).to.not.include(2);
  });
});
