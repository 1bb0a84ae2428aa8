import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { memoryNodeState, openNodeState, type NodeStateStore } from '../../core/protocol/node-state.js';
import { REJECT_REASONS } from '../../core/protocol/verifier.js';
import { pairing, tempDir } from './fixtures/setup.js';

describe('protocol verifier', () => {
  it('accepts a valid packet and returns its fields', () => {
    const p = pairing();
    const result = p.verifier().verify(p.packet(42n, { opcode: 0x03, arg: 4, selector: 3 }));
    expect(result).to.deep.equal({ ok: true, counter: 42n, epoch: 0, opcode: 0x03, arg: 4, selector: 3 });
  });

  it('rejects every single-bit flip of a valid packet (all 128)', () => {
    const p = pairing();
    const good = p.packet(1000n, { epoch: 5, selector: 0x0107 });
    const reasons = new Set<string>();
    for (let bit = 0; bit < 128; bit++) {
      const verifier = p.verifier({ epoch: 5, previousEpoch: 4 });
      const flipped = Buffer.from(good);
      flipped[bit >> 3] ^= 0x80 >> (bit & 7);
      const result = verifier.verify(flipped);
      expect(result.ok, `bit ${bit}`).to.equal(false);
      if (!result.ok) reasons.add(result.reason);
      if (bit < 2) expect(result).to.deep.equal({ ok: false, reason: 'version' });
      else if (bit >= 8) expect(result, `bit ${bit}`).to.deep.equal({ ok: false, reason: 'tag' });
      expect(verifier.verify(good).ok, 'the original still passes').to.equal(true);
    }
    expect([...reasons].sort()).to.deep.equal(['no-key', 'tag', 'version']);
  });

  it('accepts none of 100,000 random packets', () => {
    const p = pairing();
    const verifier = p.verifier();
    const random = randomBytes(16 * 100_000);
    for (let i = 0; i < 100_000; i++) {
      const packet = random.subarray(i * 16, i * 16 + 16);
      // Half of them pass steps 1 and 2 (version 01, epoch 0) so they reach the tag check.
      if (i % 2 === 0) packet[0] = 0x40;
      expect(verifier.verify(packet).ok).to.equal(false);
    }
    const stats = verifier.stats();
    expect(stats.accepted).to.equal(0);
    expect(stats.rejected.tag).to.be.greaterThanOrEqual(50_000);
    expect(Object.values(stats.rejected).reduce((a, b) => a + b)).to.equal(100_000);
  });

  it('rejects a packet for another node: its key differs (tag), or its selector names another node (target)', () => {
    const p = pairing(3);
    const other = pairing(4);
    const forThree = p.packet(1n, { selector: 0xffff });
    // Same authority and node keys, only the node id differs: the key derivation still separates them.
    expect(p.verifier({ nodeId: 4 }).verify(forThree)).to.deep.equal({ ok: false, reason: 'tag' });
    expect(other.verifier().verify(p.packet(1n, { selector: 0xffff }))).to.deep.equal({ ok: false, reason: 'tag' });
    expect(p.verifier().verify(p.packet(1n, { selector: 4 }))).to.deep.equal({ ok: false, reason: 'target' });
    expect(p.verifier().verify(p.packet(1n, { selector: 0x0102 }))).to.deep.equal({ ok: false, reason: 'target' });
    expect(p.verifier().verify(p.packet(1n, { selector: 0x0101 })).ok).to.equal(true);
    expect(p.verifier().verify(p.packet(1n, { selector: 0xffff })).ok).to.equal(true);
  });

  it('accepts the current and previous epochs only', () => {
    const p = pairing();
    const verifier = p.verifier({ epoch: 9, previousEpoch: 8 });
    expect(verifier.verify(p.packet(1n, { epoch: 9 })).ok).to.equal(true);
    expect(verifier.verify(p.packet(1n, { epoch: 8 })).ok).to.equal(true);
    expect(verifier.verify(p.packet(2n, { epoch: 7 }))).to.deep.equal({ ok: false, reason: 'no-key' });
    expect(verifier.verify(p.packet(2n, { epoch: 10 }))).to.deep.equal({ ok: false, reason: 'no-key' });
    verifier.setEpoch(10);
    expect(verifier.verify(p.packet(2n, { epoch: 10 })).ok).to.equal(true);
    expect(verifier.verify(p.packet(2n, { epoch: 9 })).ok, 'old current is now previous').to.equal(true);
    expect(verifier.verify(p.packet(3n, { epoch: 8 }))).to.deep.equal({ ok: false, reason: 'no-key' });
    expect(verifier.verify(p.packet(2n, { epoch: 9 }))).to.deep.equal({ ok: false, reason: 'replay' });
  });

  it('starts a new epoch at the highest counter accepted so far, persisted, so a shared counter sequence stays within reach', () => {
    const p = pairing();
    const state = memoryNodeState();
    const verifier = p.verifier({ epoch: 0, state });
    const far = 3n * 2n ** 23n; // further than the 24-bit reconstruction reaches from H = 0
    expect(verifier.verify(p.packet(far, { epoch: 0 })).ok).to.equal(false);
    const near = p.verifier({ epoch: 0, state: memoryNodeState({ 0: { highest: far - 10n } }) });
    expect(near.verify(p.packet(far, { epoch: 0 })).ok).to.equal(true);
    near.setEpoch(1);
    expect(near.verify(p.packet(far + 1n, { epoch: 1 })).ok, 'the next counter, in the new epoch').to.equal(true);
    expect(near.verify(p.packet(far - 1n, { epoch: 1 }))).to.deep.equal({ ok: false, reason: 'replay' });
    expect(near.verify(p.packet(far + 2n, { epoch: 0 })).ok, 'the previous epoch goes on').to.equal(true);
  });

  it('refuses the previous epoch from the deadline expirePrevious sets (an earlier one stands), as no-key', () => {
    const p = pairing();
    let now = 1000;
    const verifier = p.verifier({ epoch: 4, now: () => now });
    verifier.setEpoch(5);
    expect(verifier.previousEpoch).to.equal(4);
    verifier.expirePrevious(500);
    verifier.expirePrevious(10_000);
    now = 1499;
    expect(verifier.verify(p.packet(1n, { epoch: 4 })).ok).to.equal(true);
    now = 1500;
    expect(verifier.verify(p.packet(2n, { epoch: 4 }))).to.deep.equal({ ok: false, reason: 'no-key' });
    expect(verifier.previousEpoch).to.equal(undefined);
    expect(verifier.verify(p.packet(2n, { epoch: 5 })).ok).to.equal(true);
    // A move without a deadline keeps the previous epoch until one is set.
    verifier.setEpoch(6);
    now = 1e9;
    expect(verifier.verify(p.packet(3n, { epoch: 5 })).ok).to.equal(true);
  });

  it('rejects reserved versions and reserved target selectors', () => {
    const p = pairing();
    const verifier = p.verifier();
    const good = p.packet(5n);
    for (const version of [0b00, 0b10, 0b11]) {
      const packet = Buffer.from(good);
      packet[0] = (version << 6) | (packet[0] & 0x3f);
      expect(verifier.verify(packet)).to.deep.equal({ ok: false, reason: 'version' });
    }
    expect(verifier.verify(good.subarray(0, 15))).to.deep.equal({ ok: false, reason: 'length' });
    expect(verifier.verify(Buffer.alloc(0))).to.deep.equal({ ok: false, reason: 'length' });
    expect(verifier.verify(Buffer.concat([good, Buffer.of(0)]))).to.deep.equal({ ok: false, reason: 'length' });
    let counter = 10n;
    for (const selector of [0x0000, 0x00ff, 0x0200, 0x02ff, 0x1234, 0x8000, 0xfeff, 0xfffe]) {
      expect(verifier.verify(p.packet(counter++, { selector })), `selector ${selector}`).to.deep.equal({ ok: false, reason: 'reserved-target' });
    }
    expect(verifier.stats().accepted).to.equal(0);
  });

  it('refuses replays: the same packet twice, out of order within the window once each, below the window, C = 0', () => {
    const p = pairing();
    const verifier = p.verifier();
    const first = p.packet(1n);
    expect(verifier.verify(first).ok).to.equal(true);
    expect(verifier.verify(first)).to.deep.equal({ ok: false, reason: 'replay' });

    const packets = Array.from({ length: 300 }, (_, i) => p.packet(BigInt(i + 2)));
    const shuffled = [...packets].sort(() => Math.random() - 0.5);
    for (const packet of shuffled) expect(verifier.verify(packet).ok).to.equal(true);
    for (const packet of packets) expect(verifier.verify(packet)).to.deep.equal({ ok: false, reason: 'replay' });

    expect(verifier.verify(p.packet(5000n)).ok).to.equal(true);
    expect(verifier.verify(p.packet(5000n - 2048n))).to.deep.equal({ ok: false, reason: 'too-old' });
    expect(verifier.verify(p.packet(5000n - 2047n)).ok).to.equal(true);
    expect(verifier.verify(p.packet(0n))).to.deep.equal({ ok: false, reason: 'zero-counter' });
    expect(verifier.stats().rejected).to.include({ replay: 301, 'too-old': 1, 'zero-counter': 1 });
  });

  it('persists H before returning, and after a restart treats the window below H as seen', () => {
    const p = pairing();
    const file = join(tempDir('node-state'), 'node.db');
    let state = openNodeState(file);
    let verifier = p.verifier({ state });
    expect(verifier.verify(p.packet(10n)).ok).to.equal(true);
    expect(state.load(0).highest).to.equal(10n);
    expect(verifier.verify(p.packet(12n)).ok).to.equal(true);
    expect(state.load(0).highest).to.equal(12n);
    state.close();

    state = openNodeState(file);
    verifier = p.verifier({ state });
    expect(verifier.verify(p.packet(12n))).to.deep.equal({ ok: false, reason: 'replay' });
    expect(verifier.verify(p.packet(10n))).to.deep.equal({ ok: false, reason: 'replay' });
    expect(verifier.verify(p.packet(11n)), 'never received, but below H').to.deep.equal({ ok: false, reason: 'replay' });
    expect(verifier.verify(p.packet(13n)).ok).to.equal(true);
    state.close();
  });

  it('accepts nothing when the state store cannot persist, and loses nothing once it can', () => {
    const p = pairing();
    const inner = memoryNodeState();
    let failing = true;
    const state: NodeStateStore = {
      ...inner,
      saveHighest(epoch, highest) {
        if (failing) throw new Error('disk full');
        inner.saveHighest(epoch, highest);
      },
    };
    const verifier = p.verifier({ state });
    expect(() => verifier.verify(p.packet(7n))).to.throw(/disk full/);
    failing = false;
    expect(verifier.verify(p.packet(7n)).ok).to.equal(true);
    expect(inner.load(0).highest).to.equal(7n);
  });

  it('retires an epoch key at the failed-tag cap, reports it once, and keeps it retired across restarts', () => {
    const p = pairing();
    const file = join(tempDir('retire'), 'node.db');
    const retired: number[] = [];
    let state = openNodeState(file);
    let verifier = p.verifier({ state, epoch: 2, previousEpoch: 1, failedTagCap: 5, onKeyRetired: (e) => retired.push(e) });
    const forged = p.packet(1n, { epoch: 2 });
    forged[15] ^= 1;
    for (let i = 0; i < 5; i++) expect(verifier.verify(forged)).to.deep.equal({ ok: false, reason: 'tag' });
    expect(retired).to.deep.equal([2]);
    expect(verifier.verify(p.packet(1n, { epoch: 2 }))).to.deep.equal({ ok: false, reason: 'key-retired' });
    expect(verifier.verify(forged)).to.deep.equal({ ok: false, reason: 'key-retired' });
    expect(verifier.verify(p.packet(1n, { epoch: 1 })).ok, 'the other epoch is untouched').to.equal(true);
    expect(retired).to.deep.equal([2]);
    state.close();

    state = openNodeState(file);
    verifier = p.verifier({ state, epoch: 2, failedTagCap: 5 });
    expect(verifier.verify(p.packet(2n, { epoch: 2 }))).to.deep.equal({ ok: false, reason: 'key-retired' });
    expect(verifier.stats().rejected['key-retired']).to.equal(1);
    state.close();
  });

  it('persists the failed-tag count ahead, so a restart can overstate it but never reset it', () => {
    const p = pairing();
    const file = join(tempDir('failed-tags'), 'node.db');
    const cap = 2048; // persisted every cap/1024 = 2 failures
    let state = openNodeState(file);
    let verifier = p.verifier({ state, failedTagCap: cap });
    const forged = p.packet(1n);
    forged[8] ^= 1;
    for (let i = 0; i < 3; i++) verifier.verify(forged);
    expect(state.load(0).failedTags).to.equal(4);
    state.close();

    state = openNodeState(file);
    let retired = false;
    verifier = p.verifier({ state, failedTagCap: cap, onKeyRetired: () => (retired = true) });
    let failures = 0;
    while (!retired) {
      verifier.verify(forged);
      failures++;
    }
    expect(failures, 'after 3 real failures (counted as 4), 2044 more reach the cap').to.equal(cap - 4);
    state.close();
  });

  it('counts rejections by stable reason strings', () => {
    expect(REJECT_REASONS).to.deep.equal([
      'rate-limited', 'length', 'version', 'no-key', 'key-retired', 'tag', 'zero-counter', 'too-old', 'replay', 'reserved-target', 'target',
    ]);
    const p = pairing();
    const verifier = p.verifier();
    verifier.verify(Buffer.alloc(3));
    verifier.verify(Buffer.alloc(16));
    verifier.verify(p.packet(1n));
    const stats = verifier.stats();
    expect(stats.accepted).to.equal(1);
    expect(stats.rejected).to.deep.equal({
      'rate-limited': 0, length: 1, version: 1, 'no-key': 0, 'key-retired': 0, tag: 0, 'zero-counter': 0, 'too-old': 0, replay: 0, 'reserved-target': 0, target: 0,
    });
  });
});
