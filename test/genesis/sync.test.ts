import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import type { Membership } from '../../core/membership/membership.js';
import { membershipFor, peersFor } from '../../core/genesis/peers.js';
import { genesisKeyFromSeed } from '../../core/genesis/signing-key.js';
import { createUpdateChecker, encodeUpdate } from '../../core/genesis/sync.js';
import type { RegistryNode } from '../../core/registry/registry.js';
import { randomPublicKey } from './support.js';

const node = (id: number, role: string, status: RegistryNode['status'] = 'active'): RegistryNode => ({
  id, name: `n${id}`, aliases: [], address: `10.8.0.${id}`, role, groups: role === 'os-infrastructure' ? [1] : [], takesCommands: role === 'os-infrastructure',
  publicKey: randomPublicKey(), endpoint: `192.0.2.${id}:51820`, status,
});
const nodes = [node(1, 'cloud-relay'), node(2, 'os-infrastructure'), node(3, 'os-infrastructure'), node(4, 'os-infrastructure', 'revoked'), node(5, 'os-infrastructure', 'pending'), node(10, 'os-network-admin')];
const authority = { nodeId: 10, commandPublicKey: randomPublicKey(), epoch: 0 };

describe('membership from the registry', () => {
  it('every active node peers with every other; with a hub, all but the hub are reached via it', () => {
    const ids = (id: number) => peersFor(nodes.find((n) => n.id === id)!, nodes).map((p) => `${p.address}${p.via ? ` via ${p.via}` : ''}`);
    expect(ids(2)).to.deep.equal(['10.8.0.1', '10.8.0.3 via n1', '10.8.0.10 via n1']);
    expect(ids(1)).to.deep.equal(['10.8.0.2', '10.8.0.3', '10.8.0.10']);
    expect(ids(10)).to.deep.equal(['10.8.0.1', '10.8.0.2 via n1', '10.8.0.3 via n1']);
  });

  it('advertises a private endpoint only within its own network; the hub\'s always', () => {
    const at = (n: RegistryNode, endpoint: string): RegistryNode => ({ ...n, endpoint });
    const natted = [at(nodes[0], '192.168.9.1:51820'), at(nodes[1], '192.168.1.2:51820'), at(nodes[2], '192.168.2.2:51820'),
      at({ ...nodes[2], id: 6, name: 'n6', address: '10.8.0.6', publicKey: randomPublicKey() }, '192.168.1.3:51820'), nodes[5]];
    const endpoints = (id: number) => Object.fromEntries(peersFor(natted.find((n) => n.id === id)!, natted).map((p) => [p.name, p.endpoint]));
    expect(endpoints(2)).to.deep.equal({ n1: '192.168.9.1:51820', n3: undefined, n6: '192.168.1.3:51820', n10: '192.0.2.10:51820' });
    expect(endpoints(10)).to.deep.equal({ n1: '192.168.9.1:51820', n2: undefined, n3: undefined, n6: undefined });
  });

  it('makes the membership a node needs, with its endpoint and the authority', () => {
    const m = membershipFor(nodes[1], nodes, authority)!;
    expect(m).to.deep.include({ nodeId: 2, name: 'n2', role: 'os-infrastructure', address: '10.8.0.2', listen: '192.0.2.2:51820', groups: [1], epoch: 0 });
    expect(m.authority).to.deep.equal({ nodeId: 10, address: '10.8.0.10', commandPublicKey: authority.commandPublicKey });
    expect(m.peers[0]).to.deep.equal({ name: 'n1', publicKey: nodes[0].publicKey, address: '10.8.0.1', allowedIPs: ['10.8.0.1/32'], endpoint: '192.0.2.1:51820' });
    expect(m.peers[1]).to.deep.include({ name: 'n3', endpoint: '192.0.2.3:51820', via: 'n1' });
    expect(membershipFor({ ...nodes[1], endpoint: undefined }, nodes, authority)).to.equal(undefined);
  });
});

describe('membership updates', () => {
  const key = genesisKeyFromSeed(randomBytes(32));
  const membership: Membership = membershipFor(nodes[1], nodes, authority)!;
  const update = (seq: number, over: Partial<Membership> = {}, nodeId = 2) => encodeUpdate(key, { v: 1, seq, nodeId, membership: { ...membership, ...over } });

  it('takes signed updates for this node, newer than the last; the same again is current, older is refused', () => {
    const checker = createUpdateChecker({ genesisKey: key.publicKey, nodeId: 2, lastSeq: 3 });
    expect(checker.check(update(3))).to.deep.equal({ ok: false, reason: 'current' });
    expect(checker.check(update(2))).to.deep.equal({ ok: false, reason: 'old' });
    const taken = checker.check(update(4));
    expect(taken.ok && taken.update.membership).to.deep.equal(membership);
    expect(checker.check(update(4))).to.deep.equal({ ok: false, reason: 'current' });
  });

  it('refuses forged, foreign and malformed updates', () => {
    const checker = createUpdateChecker({ genesisKey: key.publicKey, nodeId: 2, lastSeq: 0 });
    const other = genesisKeyFromSeed(randomBytes(32));
    expect(checker.check(encodeUpdate(other, { v: 1, seq: 9, nodeId: 2, membership }))).to.deep.include({ ok: false, reason: 'forged' });
    const tampered = JSON.parse(update(9).toString());
    tampered.body = tampered.body.replace('"groups":[1]', '"groups":[1,2]');
    expect(checker.check(Buffer.from(JSON.stringify(tampered)))).to.deep.include({ ok: false, reason: 'forged' });
    expect(checker.check(update(9, { nodeId: 3, address: '10.8.0.3' }, 3))).to.deep.include({ ok: false, reason: 'not-for-this-node' });
    expect(checker.check(Buffer.from('junk'))).to.deep.include({ ok: false, reason: 'malformed' });
    expect(checker.check(update(9, { peers: 'none' as never }))).to.deep.include({ ok: false, reason: 'malformed' });
    expect(checker.check(update(9)).ok).to.equal(true);
  });
});
