// The authority's ack replay windows survive a restart: the admin's real database (admin.db,
// SQLite, WAL, synchronous=FULL) keeps each (node, epoch) window exactly, so an ack that
// arrives again after the admin restarted is still a duplicate, and one that never arrived
// before is still taken.
import { expect } from 'chai';
import { join } from 'node:path';
import { createAckSigner } from '../../core/protocol/ack.js';
import { createAckVerifier } from '../../core/protocol/ack-verifier.js';
import { createReplayWindow } from '../../core/protocol/replay-window.js';
import { openRegistry } from '../../core/registry/registry.js';
import { pairing, tempDir } from './fixtures/setup.js';

describe('protocol ack windows across an authority restart', () => {
  it('refuses an ack taken before the restart, takes one the window never saw (also below H), per node and epoch', () => {
    const p = pairing(3);
    const file = join(tempDir('ack-windows'), 'admin.db');
    const acks = createAckSigner({ nodeSecret: p.node.secret, authorityPublic: p.authority.publicKey, nodeId: 3 });
    const ack = (counter: bigint, epoch = 0) => acks.encode({ epoch, counter, status: 'executed', detail: 'pong' });
    const admin = () => {
      const registry = openRegistry(file);
      const windows = registry.ackWindows();
      const verifier = createAckVerifier({ authoritySecret: p.authority.secret, nodePublicKey: (id) => (id === 3 ? p.node.publicKey : undefined), windows });
      return { verifier, close: () => (windows.close(), registry.close()) };
    };

    let run = admin();
    for (const c of [5n, 9n, 7n]) expect(run.verifier.verify(ack(c))).to.include({ ok: true });
    expect(run.verifier.verify(ack(5n, 1))).to.include({ ok: true, epoch: 1 });
    run.close();

    // The admin restarts between an ack's first and second arrival.
    run = admin();
    for (const c of [5n, 9n, 7n]) expect(run.verifier.verify(ack(c)), `ack ${c}`).to.deep.equal({ ok: false, reason: 'duplicate' });
    expect(run.verifier.verify(ack(5n, 1))).to.deep.equal({ ok: false, reason: 'duplicate' });
    expect(run.verifier.verify(ack(8n)), 'below H, never taken').to.include({ ok: true, counter: 8n });
    expect(run.verifier.verify(ack(6n, 1)), 'another epoch keeps its own window').to.include({ ok: true });
    expect(run.verifier.stats()).to.deep.include({ accepted: 2, unsaved: 0 });
    run.close();
    run = admin();
    expect(run.verifier.verify(ack(8n))).to.deep.equal({ ok: false, reason: 'duplicate' });
    run.close();
  });

  it('restores a replay window bit for bit from its bitmap, and refuses a bitmap of the wrong size', () => {
    const window = createReplayWindow();
    for (const c of [1n, 70n, 3000n, 2999n, 5000n]) window.accept(c);
    const restored = createReplayWindow(window.highest, window.bitmap());
    for (let c = 2900n; c <= 5001n; c++) expect(restored.check(c), `counter ${c}`).to.equal(window.check(c));
    expect(() => createReplayWindow(5n, Buffer.alloc(10))).to.throw(RangeError, '512 bytes');
  });
});
