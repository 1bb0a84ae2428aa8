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
  it('a node peers with the authority and the hub; the hub and the authority with every active node', () => {
    const ids = (id: number) => peersFor(nodes.find((n) => n.id === id)!, nodes, 10).map((p) => p.address);
    expect(ids(2)).to.deep.equal(['10.8.0.1', '10.8.0.10']);
    expect(ids(1)).to.deep.equal(['10.8.0.2', '10.8.0.3', '10.8.0.10']);
    expect(ids(10)).to.deep.equal(['10.8.0.1', '10.8.0.2', '10.8.0.3']);
  });

  it('makes the membership a node needs, with its endpoint and the authority', () => {
    const m = membershipFor(nodes[1], nodes, authority)!;
    expect(m).to.deep.include({ nodeId: 2, name: 'n2', role: 'os-infrastructure', address: '10.8.0.2', listen: '192.0.2.2:51820', groups: [1], epoch: 0 });
    expect(m.authority).to.deep.equal({ nodeId: 10, address: '10.8.0.10', commandPublicKey: authority.commandPublicKey });
    expect(m.peers[0]).to.deep.equal({ name: 'n1', publicKey: nodes[0].publicKey, address: '10.8.0.1', allowedIPs: ['10.8.0.1/32'], endpoint: '192.0.2.1:51820' });
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
