import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import type { Membership } from '../../core/membership/membership.js';
import { membershipFor, peersFor } from '../../core/genesis/peers.js';
import { genesisCheck, genesisKeyFromSeed } from '../../core/genesis/signing-key.js';
import { createUpdateAssembler, encodeUpdate, MAX_BODY_BYTES, MAX_PARTS, PART_BODY_BYTES, PART_BYTES, PART_HEADER_BYTES } from '../../core/genesis/sync.js';
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
  const update = (seq: number, over: Partial<Membership> = {}, nodeId = 2) => encodeUpdate(key, { seq, nodeId, membership: { ...membership, ...over } });
  const take = (a: ReturnType<typeof createUpdateAssembler>, parts: Buffer[]) => parts.map((p) => a.take(p)).at(-1)!;
  /** A /24's worth of peers: 253 of them, beside the node itself. */
  const fleet = Array.from({ length: 254 }, (_, i) => node(i + 1, i === 0 ? 'cloud-relay' : i === 9 ? 'os-network-admin' : 'os-infrastructure'));
  const big = membershipFor(fleet[1], fleet, authority)!;

  it('takes signed updates for this node, newer than the last; the same again is current, older is refused', () => {
    const checker = createUpdateAssembler({ check: genesisCheck(key.publicKey), nodeId: 2, lastSeq: 3 });
    expect(take(checker, update(3))).to.deep.equal({ ok: false, reason: 'current' });
    expect(take(checker, update(2))).to.deep.include({ ok: false, reason: 'old' });
    const taken = take(checker, update(4));
    expect(taken.ok && taken.update.membership).to.deep.equal(membership);
    expect(take(checker, update(4))).to.deep.equal({ ok: false, reason: 'current' });
  });

  it('refuses forged, foreign and malformed updates', () => {
    const checker = createUpdateAssembler({ check: genesisCheck(key.publicKey), nodeId: 2, lastSeq: 0 });
    const other = genesisKeyFromSeed(randomBytes(32));
    expect(take(checker, encodeUpdate(other, { seq: 9, nodeId: 2, membership }))).to.deep.include({ ok: false, reason: 'forged' });
    const [tampered] = update(9);
    tampered[PART_HEADER_BYTES + 3] ^= 1;
    expect(checker.take(tampered)).to.deep.include({ ok: false, reason: 'forged' });
    expect(take(checker, update(9, { nodeId: 3, address: '10.8.0.3' }, 3))).to.deep.include({ ok: false, reason: 'not-for-this-node' });
    expect(take(checker, update(9, { nodeId: 3 }))).to.deep.include({ ok: false, reason: 'not-for-this-node', detail: 'membership of node 3' });
    expect(checker.take(Buffer.from('junk'))).to.deep.include({ ok: false, reason: 'malformed' });
    expect(take(checker, update(10, { peers: 'none' as never }))).to.deep.include({ ok: false, reason: 'malformed' });
    expect(take(checker, update(11)).ok).to.equal(true);
  });

  it('a 254-node membership travels as numbered parts of at most PART_BYTES, applied only whole, in any order', () => {
    const parts = encodeUpdate(key, { seq: 5, nodeId: 2, membership: big });
    expect(big.peers).to.have.length(253);
    expect(parts.length).to.be.within(30, MAX_PARTS);
    for (const p of parts) expect(p.length).to.be.at.most(PART_BYTES);
    const assembler = createUpdateAssembler({ check: genesisCheck(key.publicKey), nodeId: 2, lastSeq: 4 });
    const shuffled = [...parts].reverse();
    for (const p of shuffled.slice(0, -1)) expect(assembler.take(p)).to.deep.equal({ ok: false, reason: 'partial' });
    expect(assembler.take(shuffled[3])).to.deep.equal({ ok: false, reason: 'duplicate' });
    expect(assembler.status()).to.deep.equal({ lastSeq: 4, assembling: { seq: 5, missing: 1, of: parts.length } });
    const whole = assembler.take(shuffled.at(-1)!);
    expect(whole.ok && whole.update).to.deep.equal({ seq: 5, nodeId: 2, membership: big });
    expect(assembler.status()).to.deep.equal({ lastSeq: 5 });
  });

  it('a newer version supersedes an unfinished one; parts of the older one are then old', () => {
    const discarded: unknown[] = [];
    const assembler = createUpdateAssembler({ check: genesisCheck(key.publicKey), nodeId: 2, lastSeq: 0, onDiscard: (...a) => discarded.push(a) });
    const v1 = encodeUpdate(key, { seq: 1, nodeId: 2, membership: big });
    const v2 = encodeUpdate(key, { seq: 2, nodeId: 2, membership: { ...big, groups: [1, 2] } });
    assembler.take(v1[0]);
    assembler.take(v2[0]);
    expect(discarded).to.deep.equal([['superseded', 1, v1.length - 1]]);
    expect(assembler.take(v1[1])).to.deep.equal({ ok: false, reason: 'old', detail: 'seq 1: version 2 is being assembled' });
    const whole = take(assembler, v2.slice(1));
    expect(whole.ok && whole.update.membership.groups).to.deep.equal([1, 2]);
    expect(take(assembler, v1)).to.deep.include({ ok: false, reason: 'old', detail: 'seq 1: version 2 is applied' });
  });

  it('an assembly still missing parts after assemblyMs is dropped: memory and time are bounded', () => {
    let now = 0;
    const discarded: unknown[] = [];
    const assembler = createUpdateAssembler({ check: genesisCheck(key.publicKey), nodeId: 2, lastSeq: 0, assemblyMs: 1_000, now: () => now, onDiscard: (...a) => discarded.push(a) });
    const parts = encodeUpdate(key, { seq: 1, nodeId: 2, membership: big });
    assembler.take(parts[0]);
    now = 1_001;
    expect(assembler.take(parts[1])).to.deep.equal({ ok: false, reason: 'partial' });
    expect(discarded).to.deep.equal([['expired', 1, parts.length - 1]]);
    expect(assembler.status()).to.deep.equal({ lastSeq: 0, assembling: { seq: 1, missing: parts.length - 1, of: parts.length } });
    // The next round of re-pushed parts completes it.
    expect(take(assembler, parts).ok).to.equal(true);
  });

  it('says precisely what is wrong with each malformed part, and keeps nothing of it', () => {
    const assembler = createUpdateAssembler({ check: genesisCheck(key.publicKey), nodeId: 2, lastSeq: 0 });
    const [first, second] = encodeUpdate(key, { seq: 1, nodeId: 2, membership: big });
    const edit = (part: Buffer, change: (b: Buffer) => void) => {
      const b = Buffer.from(part);
      change(b);
      return assembler.take(b);
    };
    const detail = (r: ReturnType<typeof assembler.take>) => (r.ok ? 'ok' : `${r.reason}: ${r.detail}`);
    expect(detail(assembler.take(first.subarray(0, 40)))).to.equal('malformed: part of 40 bytes: at least 79');
    expect(detail(assembler.take(Buffer.concat([first, Buffer.alloc(1)])))).to.equal(`malformed: part of ${PART_BYTES + 1} bytes: at most ${PART_BYTES}`);
    expect(detail(assembler.take(Buffer.from(JSON.stringify({ body: 'x'.repeat(100), sig: '' })))))
      .to.equal('malformed: version 123: only 2 (a version 1 JSON update?)');
    expect(detail(edit(first, (b) => b.writeUInt32BE(0, 2)))).to.equal('malformed: seq 0: updates start at 1');
    expect(detail(edit(first, (b) => b.writeUInt32BE(0, 10)))).to.equal(`malformed: body length 0: 1 to ${MAX_BODY_BYTES}`);
    expect(detail(edit(first, (b) => b.writeUInt32BE(MAX_BODY_BYTES + 1, 10)))).to.equal(`malformed: body length ${MAX_BODY_BYTES + 1}: 1 to ${MAX_BODY_BYTES}`);
    const count = first.readUInt16BE(8);
    expect(detail(edit(first, (b) => b.writeUInt16BE(count + 1, 8)))).to.match(new RegExp(`^malformed: count ${count + 1}: a body of \\d+ bytes has ${count} parts$`));
    expect(detail(edit(first, (b) => b.writeUInt16BE(count, 6)))).to.equal(`malformed: index ${count}: the update has ${count} parts (0 to ${count - 1})`);
    expect(detail(edit(second, (b) => b.writeUInt16BE(count - 1, 6)))).to.match(new RegExp(`^malformed: part ${count - 1} of ${count} carries ${PART_BODY_BYTES} body bytes: \\d+ expected$`));
    expect(assembler.status()).to.deep.equal({ lastSeq: 0 });
  });

  it('refuses a membership too large for MAX_PARTS at the sender', () => {
    const huge = { ...big, peers: Array.from({ length: 4 }, () => big.peers).flat() };
    expect(() => encodeUpdate(key, { seq: 1, nodeId: 2, membership: huge })).to.throw(RangeError, /at most 140800 \(128 parts\)/);
  });
});
