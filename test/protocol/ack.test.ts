import { expect } from 'chai';
import { ACK_TYPE, ackTag, createAckSigner, encodeAck } from '../../core/protocol/ack.js';
import { createAckVerifier } from '../../core/protocol/ack-verifier.js';
import { deriveHmacKey, pairSecret } from '../../core/protocol/key-derivation.js';
import { pairing, keyPair } from './fixtures/setup.js';

function setup() {
  const p = pairing(3);
  const stranger = keyPair();
  const signer = createAckSigner({ nodeSecret: p.node.secret, authorityPublic: p.authority.publicKey, nodeId: 3 });
  const verifier = createAckVerifier({
    authoritySecret: p.authority.secret,
    nodePublicKey: (nodeId) => (nodeId === 3 ? p.node.publicKey : nodeId === 4 ? stranger.publicKey : undefined),
  });
  return { p, stranger, signer, verifier };
}

describe('protocol telemetry acks', () => {
  it('round-trips an ack naming the full 64-bit counter', () => {
    const { signer, verifier } = setup();
    const ack = signer.encode({ epoch: 2, counter: 0x123456789abcdef0n, status: 'failed', detail: 'unit ppn-udp not found' });
    expect(ack[0]).to.equal(ACK_TYPE);
    expect(ack.length).to.equal(13 + 22 + 16);
    expect(verifier.verify(ack)).to.deep.equal({
      ok: true, nodeId: 3, epoch: 2, counter: 0x123456789abcdef0n, status: 'failed', detail: 'unit ppn-udp not found',
    });
  });

  it('takes each (node, epoch, counter) once: duplicates and acks older than the window are refused', () => {
    const { signer, verifier } = setup();
    const ack = signer.encode({ epoch: 0, counter: 10n, status: 'executed' });
    expect(verifier.verify(ack).ok).to.equal(true);
    expect(verifier.verify(ack)).to.deep.equal({ ok: false, reason: 'duplicate' });
    expect(verifier.verify(signer.encode({ epoch: 0, counter: 10n, status: 'failed' }))).to.deep.equal({ ok: false, reason: 'duplicate' });
    expect(verifier.verify(signer.encode({ epoch: 1, counter: 10n, status: 'executed' })).ok, 'another epoch').to.equal(true);
    expect(verifier.verify(signer.encode({ epoch: 0, counter: 9n, status: 'executed' })).ok, 'out of order').to.equal(true);
    expect(verifier.verify(signer.encode({ epoch: 0, counter: 5000n, status: 'executed' })).ok).to.equal(true);
    expect(verifier.verify(signer.encode({ epoch: 0, counter: 5000n - 2048n, status: 'executed' }))).to.deep.equal({ ok: false, reason: 'too-old' });
    expect(verifier.verify(signer.encode({ epoch: 0, counter: 0n, status: 'executed' }))).to.deep.equal({ ok: false, reason: 'zero-counter' });
  });

  it('refuses an ack signed by another node, for an unknown node, or made with the command key', () => {
    const { p, stranger, verifier } = setup();
    const impostor = createAckSigner({ nodeSecret: stranger.secret, authorityPublic: p.authority.publicKey, nodeId: 4 });
    const forged = impostor.encode({ epoch: 0, counter: 1n, status: 'executed' });
    forged[2] = 3; // claims to be node 3
    expect(verifier.verify(forged)).to.deep.equal({ ok: false, reason: 'tag' });
    const unknown = createAckSigner({ nodeSecret: stranger.secret, authorityPublic: p.authority.publicKey, nodeId: 9 });
    expect(verifier.verify(unknown.encode({ epoch: 0, counter: 1n, status: 'executed' }))).to.deep.equal({ ok: false, reason: 'unknown-node' });
    const commandKey = deriveHmacKey(pairSecret(p.node.secret, p.authority.publicKey), 'command', 0, 3);
    expect(verifier.verify(encodeAck({ epoch: 0, nodeId: 3, counter: 1n, status: 'executed' }, commandKey))).to.deep.equal({ ok: false, reason: 'tag' });
  });

  it('rejects every single-bit flip', () => {
    const { signer, verifier } = setup();
    const ack = signer.encode({ epoch: 1, counter: 77n, status: 'executed', detail: 'ok' });
    for (let bit = 0; bit < ack.length * 8; bit++) {
      const flipped = Buffer.from(ack);
      flipped[bit >> 3] ^= 0x80 >> (bit & 7);
      expect(verifier.verify(flipped).ok, `bit ${bit}`).to.equal(false);
    }
    expect(verifier.verify(ack).ok, 'the original still passes').to.equal(true);
  });

  it('checks layout before the tag: length, type, epoch, status', () => {
    const { signer, verifier } = setup();
    const ack = signer.encode({ epoch: 1, counter: 1n, status: 'executed', detail: 'abc' });
    const with_ = (offset: number, value: number) => Buffer.from(ack).fill(value, offset, offset + 1);
    expect(verifier.verify(ack.subarray(0, 28))).to.deep.equal({ ok: false, reason: 'length' });
    expect(verifier.verify(Buffer.concat([ack, Buffer.of(0)]))).to.deep.equal({ ok: false, reason: 'length' });
    expect(verifier.verify(with_(0, 0x41))).to.deep.equal({ ok: false, reason: 'type' });
    expect(verifier.verify(with_(1, 64))).to.deep.equal({ ok: false, reason: 'epoch' });
    expect(verifier.verify(with_(3, 0))).to.deep.equal({ ok: false, reason: 'status' });
    expect(verifier.verify(with_(3, 5))).to.deep.equal({ ok: false, reason: 'status' });
    expect(verifier.verify(with_(12, 201))).to.deep.equal({ ok: false, reason: 'length' });
    expect(verifier.verify(with_(12, 4))).to.deep.equal({ ok: false, reason: 'length' });
    expect(verifier.stats().accepted).to.equal(0);
  });

  it('refuses a validly tagged detail that is not UTF-8', () => {
    const { p, verifier } = setup();
    const key = deriveHmacKey(pairSecret(p.node.secret, p.authority.publicKey), 'telemetry', 0, 3);
    const ack = encodeAck({ epoch: 0, nodeId: 3, counter: 1n, status: 'failed', detail: 'ab' }, key);
    ack[13] = 0xff;
    // Re-tag the corrupted body so that only the UTF-8 check can catch it.
    ack.set(ackTag(key, ack.subarray(0, 15)), 15);
    expect(verifier.verify(ack)).to.deep.equal({ ok: false, reason: 'detail' });
  });

  it('cuts a long detail to 200 UTF-8 bytes at a character boundary', () => {
    const { signer, verifier } = setup();
    const detail = 'é'.repeat(150); // 300 bytes
    const ack = signer.encode({ epoch: 0, counter: 1n, status: 'failed', detail });
    expect(ack[12]).to.equal(200);
    const result = verifier.verify(ack);
    expect(result.ok && result.detail).to.equal('é'.repeat(100));
    const odd = signer.encode({ epoch: 0, counter: 2n, status: 'failed', detail: `x${'€'.repeat(80)}` }); // 1 + 240 bytes
    expect(odd[12]).to.equal(1 + 3 * 66);
    expect(verifier.verify(odd).ok).to.equal(true);
  });

  it('is never taken for a command packet', () => {
    const { p, signer } = setup();
    const ack = signer.encode({ epoch: 0, counter: 1n, status: 'executed' });
    expect(p.verifier().verify(ack)).to.deep.equal({ ok: false, reason: 'length' });
    expect(p.verifier().verify(ack.subarray(0, 16))).to.deep.equal({ ok: false, reason: 'version' });
  });
});
