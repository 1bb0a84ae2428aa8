import { expect } from 'chai';
import { generateSecret, publicKeyOf } from '../../core/keys/index.js';
import { createAckSigner } from '../../core/protocol/ack.js';
import { createAckVerifier } from '../../core/protocol/ack-verifier.js';
import { createAuthorityKeyCache, createNodeEpochKeys, type AuthorityKeyCache, type AuthorityPair } from '../../core/protocol/epoch-keys.js';
import { createKeyRetiredSigner, createKeyRetiredVerifier } from '../../core/protocol/key-retired.js';
import { memoryNodeState } from '../../core/protocol/node-state.js';
import { createReportSigner, createReportVerifier } from '../../core/protocol/report.js';
import { createSigner } from '../../core/protocol/signer.js';
import { createVerifier } from '../../core/protocol/verifier.js';
import type { ReportFacts } from '../../core/protocol/report-facts.js';

const NODE = 7;
const FACTS: ReportFacts = {
  everySeconds: 15, uptimeS: 1, version: '0.1.0', load: [0, 0, 0], rssBytes: 1, stages: {}, drops: { total: 0, top: {} }, peers: [], peerPaths: {},
};

// A key change as an epoch move: epoch 4 on the old pair, epoch 5 on the new one, both accepted
// at once during the overlap, by every node-side signer and every authority-side verifier.
describe('protocol epoch keys: each epoch on its own pair', () => {
  let counter = 0n;
  const counters = { next: () => ++counter };

  for (const change of ['node identity key', 'authority command key'] as const) {
    it(`${change}: a change: epoch 4 stays on the old pair, 5 takes the new one, on both sides`, () => {
      const oldNode = generateSecret();
      const newNode = change === 'node identity key' ? generateSecret() : oldNode;
      const oldAuthority = generateSecret();
      const newAuthority = change === 'authority command key' ? generateSecret() : oldAuthority;
      const keys = createNodeEpochKeys({ nodeSecret: oldNode, authorityPublic: publicKeyOf(oldAuthority) });
      const verifier = createVerifier({ keys, nodeId: NODE, epoch: 4, state: memoryNodeState() });
      const acks = createAckSigner({ keys, nodeId: NODE });
      const reports = createReportSigner({ keys, nodeId: NODE });
      const retired = createKeyRetiredSigner({ keys, nodeId: NODE });
      // The authority's view: epoch 4 on the old pair, 5 on the new.
      const pairOf = (epoch: number): AuthorityPair =>
        epoch === 4
          ? { authoritySecret: oldAuthority, nodePublicKey: publicKeyOf(oldNode) }
          : { authoritySecret: newAuthority, nodePublicKey: publicKeyOf(newNode) };
      const pairs = (nodeId: number, epoch: number) => (nodeId === NODE ? pairOf(epoch) : undefined);
      const ackVerifier = createAckVerifier({ pairs });
      const reportVerifier = createReportVerifier({ pairs });
      const retiredVerifier = createKeyRetiredVerifier({ pairs });
      const signer = createSigner({ authoritySecret: oldAuthority, epoch: 4, counters });
      const signFor = (epoch: number) =>
        signer.sign({ opcode: 1, arg: 0, selector: NODE }, [{ nodeId: NODE, epoch, publicKey: pairOf(epoch).nodePublicKey, authoritySecret: pairOf(epoch).authoritySecret }]).packets[0].bytes;

      const before = signFor(4);
      // The node's move: the new pair becomes its default, the epoch it leaves keeps the old one.
      keys.setDefault(change === 'node identity key' ? { nodeSecret: newNode } : { authorityPublic: publicKeyOf(newAuthority) });
      keys.bind(4, { nodeSecret: oldNode, authorityPublic: publicKeyOf(oldAuthority) });
      verifier.setEpoch(5);
      const after = signFor(5);
      for (const packet of [before, after]) {
        const result = verifier.verify(packet);
        expect(result.ok, (result as { reason?: string }).reason).to.equal(true);
        const { epoch, counter: c } = result as { epoch: number; counter: bigint };
        expect(ackVerifier.verify(acks.encode({ epoch, counter: c, status: 'executed' }))).to.include({ ok: true, epoch, nodeId: NODE });
        expect(reportVerifier.verify(reports.encode(epoch, FACTS).datagram)).to.include({ ok: true, epoch });
        expect(retiredVerifier.verify(retired.encode(epoch, 1))).to.include({ ok: true, epoch });
      }
      // Epoch 5 signed under the old pair is refused: the new key is the only one for it.
      const oldPairFor5 = createSigner({ authoritySecret: oldAuthority, epoch: 5, counters }).sign({ opcode: 1, arg: 0, selector: NODE }, [
        { nodeId: NODE, publicKey: publicKeyOf(oldNode) },
      ]);
      expect(verifier.verify(oldPairFor5.packets[0].bytes)).to.deep.equal({ ok: false, reason: 'tag' });
      // The overlap over: epoch 4 unbound falls back to the new default, so its old-key packets fail.
      keys.unbind(4);
      const late = createSigner({ authoritySecret: oldAuthority, epoch: 4, counters }).sign({ opcode: 1, arg: 0, selector: NODE }, [
        { nodeId: NODE, publicKey: publicKeyOf(oldNode) },
      ]);
      expect(verifier.verify(late.packets[0].bytes)).to.deep.equal({ ok: false, reason: 'tag' });
    });
  }

  it('a bind changes the key of an epoch slot already open (no rebuild), and only that epoch', () => {
    const a = generateSecret();
    const b = generateSecret();
    const authority = generateSecret();
    const keys = createNodeEpochKeys({ nodeSecret: a, authorityPublic: publicKeyOf(authority) });
    const verifier = createVerifier({ keys, nodeId: NODE, epoch: 2, previousEpoch: 1, state: memoryNodeState() });
    const sign = (epoch: number, node: Uint8Array) =>
      createSigner({ authoritySecret: authority, epoch, counters }).sign({ opcode: 1, arg: 0, selector: NODE }, [{ nodeId: NODE, publicKey: publicKeyOf(node) }]).packets[0].bytes;
    expect(verifier.verify(sign(2, a)).ok).to.equal(true);
    const generation = keys.generation;
    keys.bind(2, { nodeSecret: b });
    expect(keys.generation).to.be.above(generation);
    expect(keys.bound()).to.deep.equal([2]);
    expect(verifier.verify(sign(2, a))).to.deep.equal({ ok: false, reason: 'tag' });
    expect(verifier.verify(sign(2, b)).ok).to.equal(true);
    expect(verifier.verify(sign(1, a)).ok).to.equal(true);
    expect(() => keys.bind(64, { nodeSecret: b })).to.throw(RangeError);
  });

  it('a node-key and an authority-key change binding the same epoch each keep their half', () => {
    const [oldNode, newNode, oldAuthority, newAuthority] = [generateSecret(), generateSecret(), generateSecret(), generateSecret()];
    const keys = createNodeEpochKeys({ nodeSecret: oldNode, authorityPublic: publicKeyOf(oldAuthority) });
    keys.setDefault({ authorityPublic: publicKeyOf(newAuthority) });
    keys.bind(3, { authorityPublic: publicKeyOf(oldAuthority) });
    keys.setDefault({ nodeSecret: newNode });
    keys.bind(3, { nodeSecret: oldNode });
    const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(b);
    expect(same(keys.pairOf(3).nodeSecret, oldNode) && same(keys.pairOf(3).authorityPublic, publicKeyOf(oldAuthority))).to.equal(true);
    // The authority's overlap ends first: epoch 3 keeps the old node key, takes the new authority key.
    keys.unbind(3, 'authorityPublic');
    expect(same(keys.pairOf(3).nodeSecret, oldNode) && same(keys.pairOf(3).authorityPublic, publicKeyOf(newAuthority))).to.equal(true);
    keys.unbind(3, 'nodeSecret');
    expect(keys.bound()).to.deep.equal([]);
    expect(same(keys.pairOf(3).nodeSecret, newNode)).to.equal(true);
    // A half bound follows no later default; an unbound one does.
    keys.bind(4, { nodeSecret: oldNode });
    keys.setDefault({ authorityPublic: publicKeyOf(oldAuthority) });
    expect(same(keys.pairOf(4).authorityPublic, publicKeyOf(oldAuthority)) && same(keys.pairOf(4).nodeSecret, oldNode)).to.equal(true);
  });

  it('the authority caches per (node, epoch): a pair that changes for one epoch is derived again for it alone', () => {
    const node = generateSecret();
    const renewed = generateSecret();
    const authority = generateSecret();
    let epoch5Key = publicKeyOf(node);
    const verifier = createAckVerifier({
      pairs: (nodeId, epoch) => (nodeId !== NODE ? undefined : { authoritySecret: authority, nodePublicKey: epoch === 5 ? epoch5Key : publicKeyOf(node) }),
    });
    const oldAcks = createAckSigner({ nodeSecret: node, authorityPublic: publicKeyOf(authority), nodeId: NODE });
    const newAcks = createAckSigner({ nodeSecret: renewed, authorityPublic: publicKeyOf(authority), nodeId: NODE });
    expect(verifier.verify(oldAcks.encode({ epoch: 5, counter: 1n, status: 'executed' })).ok).to.equal(true);
    epoch5Key = publicKeyOf(renewed);
    expect(verifier.verify(oldAcks.encode({ epoch: 5, counter: 2n, status: 'executed' }))).to.deep.equal({ ok: false, reason: 'tag' });
    expect(verifier.verify(newAcks.encode({ epoch: 5, counter: 2n, status: 'executed' })).ok).to.equal(true);
    expect(verifier.verify(oldAcks.encode({ epoch: 4, counter: 3n, status: 'executed' })).ok).to.equal(true);
    // The replay window of (node, epoch) is the same whichever key signed: counter 1 stays taken.
    expect(verifier.verify(newAcks.encode({ epoch: 5, counter: 1n, status: 'executed' }))).to.deep.equal({ ok: false, reason: 'duplicate' });
    expect(verifier.verify(oldAcks.encode({ epoch: 5, counter: 9n, status: 'executed' }).fill(0, 2, 3))).to.deep.equal({ ok: false, reason: 'unknown-node' });
  });

  it("the authority's verifiers share one cache when given it: a node's telemetry key is asked of it by each", () => {
    const node = generateSecret();
    const authority = generateSecret();
    const real = createAuthorityKeyCache();
    const asked: string[] = [];
    const cache: AuthorityKeyCache = { hmacKey: (channel, nodeId, epoch, pair) => (asked.push(`${channel} ${nodeId} ${epoch}`), real.hmacKey(channel, nodeId, epoch, pair)) };
    const pairs = (nodeId: number) => (nodeId === NODE ? { authoritySecret: authority, nodePublicKey: publicKeyOf(node) } : undefined);
    const reports = createReportVerifier({ pairs, cache });
    const acks = createAckVerifier({ pairs, cache });
    const retired = createKeyRetiredVerifier({ pairs, cache });
    const own = { nodeSecret: node, authorityPublic: publicKeyOf(authority), nodeId: NODE };
    expect(reports.verify(createReportSigner(own).encode(0, FACTS).datagram).ok).to.equal(true);
    expect(acks.verify(createAckSigner(own).encode({ epoch: 0, counter: 1n, status: 'executed' })).ok).to.equal(true);
    expect(retired.verify(createKeyRetiredSigner(own).encode(0, 5)).ok).to.equal(true);
    expect(asked).to.deep.equal([`telemetry ${NODE} 0`, `telemetry ${NODE} 0`, `telemetry ${NODE} 0`]);
  });
});
