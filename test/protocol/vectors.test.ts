// The checked-in vectors are what our code produces, and every value in them is recomputed here
// with @noble (curves for X25519, hashes for HKDF and HMAC) instead of node:crypto.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { buildVectors, VECTORS_FILE } from '../vectors/generate.js';
import { memoryNodeState } from '../../core/protocol/node-state.js';
import { reconstructCounter } from '../../core/protocol/counter.js';
import { createVerifier } from '../../core/protocol/verifier.js';

type Vectors = ReturnType<typeof buildVectors>;
const vectors = JSON.parse(readFileSync(VECTORS_FILE, 'utf8')) as Vectors;
const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const ascii = (s: string) => new TextEncoder().encode(s);

function u64be(value: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, value);
  return out;
}

function nobleCommandKey(nodeId: number, epoch: number): Uint8Array {
  const node = vectors.nodes.find((n) => n.nodeId === nodeId)!;
  const ss = x25519.getSharedSecret(b64(vectors.authority.secret), b64(node.public));
  return hkdf(sha256, ss, ascii('ppn/cmd/v1'), Uint8Array.of(epoch, nodeId), 32);
}

describe('protocol test vectors', () => {
  it('the checked-in file is what the generator builds', () => {
    expect(vectors).to.deep.equal(JSON.parse(JSON.stringify(buildVectors())));
  });

  it('public keys, shared secrets and derived keys match @noble', () => {
    expect(hex(x25519.getPublicKey(b64(vectors.authority.secret)))).to.equal(hex(b64(vectors.authority.public)));
    for (const node of vectors.nodes) expect(hex(x25519.getPublicKey(b64(node.secret)))).to.equal(hex(b64(node.public)));
    expect(vectors.keys.length).to.be.greaterThan(0);
    for (const k of vectors.keys) {
      const node = vectors.nodes.find((n) => n.nodeId === k.nodeId)!;
      const onAuthority = x25519.getSharedSecret(b64(vectors.authority.secret), b64(node.public));
      const onNode = x25519.getSharedSecret(b64(node.secret), b64(vectors.authority.public));
      expect(hex(onAuthority)).to.equal(k.sharedSecret);
      expect(hex(onNode)).to.equal(k.sharedSecret);
      const info = Uint8Array.of(k.epoch, k.nodeId);
      expect(hex(hkdf(sha256, onNode, ascii('ppn/cmd/v1'), info, 32))).to.equal(k.commandKey);
      expect(hex(hkdf(sha256, onNode, ascii('ppn/telemetry/v1'), info, 32))).to.equal(k.telemetryKey);
    }
  });

  it('packets match a layout and tag computed by hand with @noble', () => {
    for (const p of vectors.packets) {
      const counter = BigInt(p.counter);
      const header = new Uint8Array(8);
      header[0] = 0x40 | p.epoch;
      header[1] = p.opcode;
      header[2] = p.arg;
      header[3] = p.selector >> 8;
      header[4] = p.selector & 0xff;
      header[5] = Number((counter >> 16n) & 0xffn);
      header[6] = Number((counter >> 8n) & 0xffn);
      header[7] = Number(counter & 0xffn);
      const mac = hmac(sha256, nobleCommandKey(p.nodeId, p.epoch), new Uint8Array([...u64be(counter), ...header]));
      expect(p.hex).to.equal(hex(header) + hex(mac.subarray(0, 8)));
    }
  });

  it('receive cases give the recorded verdict, and accepted ones carry a tag valid under @noble', () => {
    for (const c of vectors.receive) {
      const node = vectors.nodes.find((n) => n.nodeId === c.nodeId)!;
      const bytes = Buffer.from(c.hex, 'hex');
      const verifier = createVerifier({
        nodeSecret: b64(node.secret),
        authorityPublic: b64(vectors.authority.public),
        nodeId: c.nodeId,
        groups: node.groups,
        epoch: c.currentEpoch,
        previousEpoch: c.previousEpoch,
        state: memoryNodeState({ [bytes[0] & 0x3f]: { highest: BigInt(c.highest) } }),
      });
      for (const earlier of c.earlier ?? []) expect(verifier.verify(Buffer.from(earlier, 'hex')).ok, c.name).to.equal(true);
      const result = verifier.verify(bytes);
      expect(result.ok ? { ok: true, counter: result.counter.toString() } : result, c.name).to.deep.equal(c.expect);
      expect(c.name.startsWith(c.expect.ok ? 'accepted' : `rejected ${'reason' in c.expect ? c.expect.reason : ''}`), c.name).to.equal(true);
      if (result.ok) {
        const mac = hmac(sha256, nobleCommandKey(c.nodeId, result.epoch), new Uint8Array([...u64be(result.counter), ...bytes.subarray(0, 8)]));
        expect(hex(mac.subarray(0, 8))).to.equal(hex(bytes.subarray(8)));
      }
    }
  });

  it('counter reconstruction: the one value ≡ low24 (mod 2^24) in (H + 1 − 2^23, H + 1 + 2^23], never negative', () => {
    for (const r of vectors.reconstruction) {
      const expected = BigInt(r.highest) + 1n;
      const low = expected - (1n << 23n) + 1n; // smallest value of the window
      let c = low + ((((BigInt(r.low24) - low) % (1n << 24n)) + (1n << 24n)) % (1n << 24n));
      if (c < 0n) c += 1n << 24n;
      expect(r.counter).to.equal(c.toString());
      expect(reconstructCounter(BigInt(r.highest), r.low24).toString()).to.equal(r.counter);
    }
  });

  it('acks match a layout and tag computed by hand with @noble', () => {
    for (const a of vectors.acks) {
      const node = vectors.nodes.find((n) => n.nodeId === a.nodeId)!;
      const ss = x25519.getSharedSecret(b64(node.secret), b64(vectors.authority.public));
      const key = hkdf(sha256, ss, ascii('ppn/telemetry/v1'), Uint8Array.of(a.epoch, a.nodeId), 32);
      const detail = new TextEncoder().encode(a.detail);
      const status = { executed: 1, failed: 2, 'rejected-by-policy': 3, 'unknown-intent': 4 }[a.status];
      const signed = new Uint8Array([0xc1, a.epoch, a.nodeId, status, ...u64be(BigInt(a.counter)), detail.length, ...detail]);
      expect(a.hex).to.equal(hex(signed) + hex(hmac(sha256, key, signed).subarray(0, 16)));
    }
  });
});
