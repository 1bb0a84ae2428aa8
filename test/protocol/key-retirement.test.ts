// The per-source budget of failed tags in front of the cap, and the key-retired report a node
// sends when the cap is reached all the same (issue 12 item 7).
import { expect } from 'chai';
import { createFailureBudget } from '../../core/protocol/failure-budget.js';
import { createKeyRetiredSigner, createKeyRetiredVerifier, KEY_RETIRED_LENGTH } from '../../core/protocol/key-retired.js';
import { memoryNodeState } from '../../core/protocol/node-state.js';
import { pairing } from './fixtures/setup.js';

describe('protocol: failed-tag budget per source', () => {
  it('drops a source unchecked once it spent its burst, refills at its rate, and leaves other sources alone', () => {
    let t = 0;
    const p = pairing();
    const retired: number[] = [];
    const verifier = p.verifier({ failedTagCap: 100, failureBurst: 5, failuresPerSecond: 2, now: () => t, onKeyRetired: (e) => retired.push(e) });
    const forged = Buffer.from(p.packet(1n));
    forged[15] ^= 1;
    const reasons = Array.from({ length: 50 }, () => (verifier.verify(forged, '10.8.0.10') as { reason: string }).reason);
    expect(reasons.slice(0, 5)).to.deep.equal(Array(5).fill('tag'));
    expect(reasons.slice(5)).to.deep.equal(Array(45).fill('rate-limited'));
    expect(verifier.failedTags(0), 'dropped packets are not failures').to.equal(5);
    // A real command from the same source waits for the budget too; from another source it passes.
    expect(verifier.verify(p.packet(2n), '10.8.0.10')).to.deep.include({ ok: false, reason: 'rate-limited' });
    expect(verifier.verify(p.packet(2n), '10.8.0.1')).to.deep.include({ ok: true, counter: 2n });
    t += 1000;
    expect(verifier.verify(forged, '10.8.0.10')).to.deep.include({ reason: 'tag' });
    expect(verifier.verify(forged, '10.8.0.10')).to.deep.include({ reason: 'tag' });
    expect(verifier.verify(forged, '10.8.0.10')).to.deep.include({ reason: 'rate-limited' });
    t += 1000;
    expect(verifier.verify(p.packet(3n), '10.8.0.10')).to.deep.include({ ok: true, counter: 3n });
    expect(verifier.stats().rejected['rate-limited']).to.equal(47);
    expect(retired).to.deep.equal([]);
  });

  it('without a source (ppn packet verify) every packet is checked and counted', () => {
    const p = pairing();
    const verifier = p.verifier({ failedTagCap: 8, failureBurst: 1, failuresPerSecond: 1 });
    const forged = Buffer.from(p.packet(1n));
    forged[15] ^= 1;
    for (let i = 0; i < 8; i++) expect(verifier.verify(forged)).to.deep.include({ reason: 'tag' });
    expect(verifier.isRetired(0)).to.equal(true);
    expect(verifier.verify(p.packet(2n))).to.deep.include({ reason: 'key-retired' });
  });

  it('keeps only a bounded number of sources', () => {
    let t = 0;
    const budget = createFailureBudget({ perSecond: 1, burst: 1, maxSources: 3, now: () => t });
    for (const s of ['a', 'b', 'c', 'd']) budget.spend(s);
    expect(['a', 'b', 'c', 'd'].map((s) => budget.allows(s))).to.deep.equal([true, false, false, false]);
    t += 1000;
    expect(budget.allows('b')).to.equal(true);
  });

  it('a retired current epoch is remembered across a restart; a new epoch taken live accepts commands', () => {
    const p = pairing();
    const state = memoryNodeState();
    const first = p.verifier({ state, failedTagCap: 4 });
    const forged = Buffer.from(p.packet(1n));
    forged[15] ^= 1;
    for (let i = 0; i < 4; i++) first.verify(forged);
    const restarted = p.verifier({ state, failedTagCap: 4 });
    expect(restarted.isRetired(0)).to.equal(true);
    expect(restarted.verify(p.packet(2n))).to.deep.include({ reason: 'key-retired' });
    restarted.setEpoch(1);
    expect(restarted.epoch).to.equal(1);
    expect(restarted.verify(p.packet(2n, { epoch: 1 }))).to.deep.include({ ok: true, epoch: 1 });
    expect(restarted.verify(p.packet(3n))).to.deep.include({ reason: 'key-retired' });
  });
});

describe('protocol: key-retired report', () => {
  const setup = () => {
    const p = pairing();
    const signer = createKeyRetiredSigner({ nodeSecret: p.node.secret, authorityPublic: p.authority.publicKey, nodeId: p.nodeId });
    const verifier = createKeyRetiredVerifier({ authoritySecret: p.authority.secret, nodePublicKey: (id) => (id === p.nodeId ? p.node.publicKey : undefined) });
    return { p, signer, verifier };
  };

  it('round-trips epoch, node and failure count under the telemetry key', () => {
    const { signer, verifier } = setup();
    const report = signer.encode(5, 1 << 20);
    expect(report).to.have.length(KEY_RETIRED_LENGTH);
    expect(report[0]).to.equal(0xc2);
    expect(verifier.verify(report)).to.deep.equal({ ok: true, epoch: 5, nodeId: 3, failedTags: 1 << 20 });
  });

  it('refuses every single-bit flip, other lengths, unknown nodes and another node key', () => {
    const { p, signer, verifier } = setup();
    const report = signer.encode(5, 1000);
    const reasons = new Set<string>();
    for (let bit = 0; bit < report.length * 8; bit++) {
      const flipped = Buffer.from(report);
      flipped[bit >> 3] ^= 0x80 >> (bit & 7);
      const r = verifier.verify(flipped);
      expect(r.ok, `bit ${bit}`).to.equal(false);
      if (!r.ok) reasons.add(r.reason);
    }
    expect([...reasons].sort()).to.deep.equal(['epoch', 'tag', 'type', 'unknown-node']);
    expect(verifier.verify(report.subarray(0, 22))).to.deep.equal({ ok: false, reason: 'length' });
    const other = pairing();
    const stranger = createKeyRetiredSigner({ nodeSecret: other.node.secret, authorityPublic: p.authority.publicKey, nodeId: 3 });
    expect(verifier.verify(stranger.encode(5, 1000))).to.deep.equal({ ok: false, reason: 'tag' });
  });
});
