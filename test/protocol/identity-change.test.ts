// The identity-change request (core/protocol/identity-change.ts): encoded on the node under its
// old telemetry key with a proof of the new secret, verified by the authority; every way it can
// be wrong is refused with its own reason.
import { expect } from 'chai';
import { createHmac } from 'node:crypto';
import { generateSecret, publicKeyOf } from '../../core/keys/index.js';
import { createNodeEpochKeys } from '../../core/protocol/epoch-keys.js';
import {
  createIdentityChangeSigner, createIdentityChangeVerifier, IDENTITY_CHANGE_LENGTH, IDENTITY_CHANGE_TYPE,
} from '../../core/protocol/identity-change.js';
import { createKeyRetiredSigner } from '../../core/protocol/key-retired.js';

const NODE = 5;

function setup() {
  const authority = generateSecret();
  const oldSecret = generateSecret();
  const newSecret = generateSecret();
  const keys = createNodeEpochKeys({ nodeSecret: oldSecret, authorityPublic: publicKeyOf(authority) });
  const signer = createIdentityChangeSigner({ keys, nodeId: NODE });
  let registered: Uint8Array | undefined = publicKeyOf(oldSecret);
  const verifier = createIdentityChangeVerifier({ authoritySecret: authority, nodePublicKey: (id) => (id === NODE ? registered : undefined) });
  return { authority, oldSecret, newSecret, keys, signer, verifier, forget: () => (registered = undefined) };
}

describe('protocol: identity-change request', () => {
  it('carries the epoch, node and new public key, tagged under the old key and proved with the new one', () => {
    const { signer, verifier, newSecret } = setup();
    const message = signer.encode(9, newSecret);
    expect(message.length).to.equal(IDENTITY_CHANGE_LENGTH);
    expect([message[0], message[1], message[2]]).to.deep.equal([IDENTITY_CHANGE_TYPE, 9, NODE]);
    const result = verifier.verify(message);
    expect(result).to.deep.include({ ok: true, epoch: 9, nodeId: NODE });
    expect((result as { publicKey: Buffer }).publicKey.equals(publicKeyOf(newSecret))).to.equal(true);
  });

  it('refuses every single-bit flip, each with a reason', () => {
    const { signer, verifier, newSecret } = setup();
    const message = signer.encode(3, newSecret);
    const reasons = new Set<string>();
    for (let bit = 0; bit < message.length * 8; bit++) {
      const flipped = Buffer.from(message);
      flipped[bit >> 3] ^= 1 << (bit & 7);
      const result = verifier.verify(flipped);
      expect(result.ok, `bit ${bit}`).to.equal(false);
      reasons.add((result as { reason: string }).reason);
    }
    expect([...reasons].sort()).to.deep.equal(['epoch', 'tag', 'type', 'unknown-node'].sort());
  });

  it('refuses a wrong length, another telemetry type, an unknown node, and a tag under another key', () => {
    const { signer, verifier, newSecret, authority, forget } = setup();
    const message = signer.encode(0, newSecret);
    expect(verifier.verify(message.subarray(0, 66))).to.deep.equal({ ok: false, reason: 'length' });
    expect(verifier.verify(Buffer.concat([message, Buffer.alloc(1)]))).to.deep.equal({ ok: false, reason: 'length' });
    // A key-retired report is not an identity change, even at this length.
    const retired = createKeyRetiredSigner({ nodeSecret: generateSecret(), authorityPublic: publicKeyOf(authority), nodeId: NODE }).encode(0, 1);
    expect(verifier.verify(Buffer.concat([retired, Buffer.alloc(IDENTITY_CHANGE_LENGTH - retired.length)]))).to.deep.equal({ ok: false, reason: 'type' });
    // Someone else's old key (not the node's): the tag does not hold.
    const impostor = createIdentityChangeSigner({ nodeSecret: generateSecret(), authorityPublic: publicKeyOf(authority), nodeId: NODE });
    expect(verifier.verify(impostor.encode(0, newSecret))).to.deep.equal({ ok: false, reason: 'tag' });
    forget();
    expect(verifier.verify(message)).to.deep.equal({ ok: false, reason: 'unknown-node' });
  });

  it('refuses a new key whose secret the sender does not hold, and a low-order key', () => {
    const { keys, verifier } = setup();
    const good = createIdentityChangeSigner({ keys, nodeId: NODE }).encode(0, generateSecret());
    // Tagged honestly under the node's own telemetry key, so only what follows from the new key is wrong.
    const retagged = (newKey: Buffer) => {
      const m = Buffer.from(good);
      newKey.copy(m, 3);
      createHmac('sha256', keys.hmacKey('telemetry', 0, NODE)).update(m.subarray(0, 51)).digest().copy(m, 51, 0, 16);
      return m;
    };
    // Another node's public key (or any key whose secret it does not have): the proof cannot be made.
    expect(verifier.verify(retagged(publicKeyOf(generateSecret())))).to.deep.equal({ ok: false, reason: 'proof' });
    expect(verifier.verify(retagged(Buffer.alloc(32)))).to.deep.equal({ ok: false, reason: 'bad-key' });
  });
});
