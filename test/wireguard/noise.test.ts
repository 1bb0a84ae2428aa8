// The handshake checked against an independent Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s written
// here from the Noise specification (rev. 34) with @noble primitives only (no node:crypto, no code
// shared with core/wireguard). The inputs are those of the cacophony test vectors (fixed statics,
// ephemerals, psk and the prologue "John Galt"); the expected bytes come from the independent
// implementation, since the published ciphertexts are not reproduced here. WireGuard's own
// prologue is run the same way, and the two constants FACTS.md records are checked directly.
import { expect } from 'chai';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { blake2s } from '@noble/hashes/blake2.js';
import { hmac } from '@noble/hashes/hmac.js';
import { CONSTRUCTION, IDENTIFIER } from '../../core/wireguard/constants.js';
import { hash } from '../../core/wireguard/crypto.js';
import { keyPairFromPrivate } from '../../core/keys/index.js';
import {
  consumeInitiation, consumeResponse, createInitiation, createResponse, deriveTransportKeys,
} from '../../core/wireguard/noise.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const cat = (...parts: Uint8Array[]) => Uint8Array.from(Buffer.concat(parts));

// Inputs of the cacophony vectors for Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s.
const V = {
  prologue: hex('4a6f686e2047616c74'),
  psk: hex('54686973206973206d7920417573747269616e20706572737065637469766521'),
  initStatic: hex('e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1'),
  initEphemeral: hex('893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a'),
  respStatic: hex('4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893'),
  respEphemeral: hex('bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b'),
};

// ---- an independent Noise IKpsk2 (initiator and responder), Noise spec §5 ----------------------

function hkdf(ck: Uint8Array, ikm: Uint8Array, n: 2 | 3): Uint8Array[] {
  const temp = hmac(blake2s, ck, ikm);
  const o1 = hmac(blake2s, temp, Uint8Array.of(1));
  const o2 = hmac(blake2s, temp, cat(o1, Uint8Array.of(2)));
  return n === 2 ? [o1, o2] : [o1, o2, hmac(blake2s, temp, cat(o2, Uint8Array.of(3)))];
}

function symmetricState(prologue: Uint8Array) {
  const name = new TextEncoder().encode(CONSTRUCTION);
  let h: Uint8Array = name.length <= 32 ? cat(name, new Uint8Array(32 - name.length)) : blake2s(name);
  let ck: Uint8Array = h;
  let k: Uint8Array | null = null;
  let n = 0;
  const nonce = () => { const b = new Uint8Array(12); new DataView(b.buffer).setBigUint64(4, BigInt(n), true); return b; };
  const s = {
    mixHash(data: Uint8Array) { h = blake2s(cat(h, data)); },
    mixKey(ikm: Uint8Array) { [ck, k] = hkdf(ck, ikm, 2); n = 0; },
    mixKeyAndHash(ikm: Uint8Array) { let th: Uint8Array; [ck, th, k] = hkdf(ck, ikm, 3); s.mixHash(th); n = 0; },
    encryptAndHash(pt: Uint8Array) { const c = k ? chacha20poly1305(k, nonce(), h).encrypt(pt) : pt; n++; s.mixHash(c); return c; },
    decryptAndHash(c: Uint8Array) { const pt = k ? chacha20poly1305(k, nonce(), h).decrypt(c) : c; n++; s.mixHash(c); return pt; },
    split() { return hkdf(ck, new Uint8Array(0), 2); },
    get h() { return h; },
  };
  s.mixHash(prologue);
  return s;
}

const pub = (secret: Uint8Array) => x25519.getPublicKey(secret);
const dhN = (secret: Uint8Array, p: Uint8Array) => x25519.getSharedSecret(secret, p);

/** Runs the whole IKpsk2 exchange; returns both messages and the split keys. */
function referenceHandshake(p: { prologue: Uint8Array; psk: Uint8Array; payload1: Uint8Array; payload2: Uint8Array }) {
  const i = symmetricState(p.prologue);
  const r = symmetricState(p.prologue);
  const rs = pub(V.respStatic);
  i.mixHash(rs);
  r.mixHash(rs);

  // -> e, es, s, ss
  const ie = pub(V.initEphemeral);
  i.mixHash(ie); i.mixKey(ie);
  i.mixKey(dhN(V.initEphemeral, rs));
  const encS = i.encryptAndHash(pub(V.initStatic));
  i.mixKey(dhN(V.initStatic, rs));
  const enc1 = i.encryptAndHash(p.payload1);
  const msg1 = cat(ie, encS, enc1);

  r.mixHash(ie); r.mixKey(ie);
  r.mixKey(dhN(V.respStatic, ie));
  const is = r.decryptAndHash(encS);
  r.mixKey(dhN(V.respStatic, is));
  expect(toHex(r.decryptAndHash(enc1))).to.equal(toHex(p.payload1));

  // <- e, ee, se, psk
  const re = pub(V.respEphemeral);
  r.mixHash(re); r.mixKey(re);
  r.mixKey(dhN(V.respEphemeral, ie));
  r.mixKey(dhN(V.respEphemeral, is));
  r.mixKeyAndHash(p.psk);
  const enc2 = r.encryptAndHash(p.payload2);
  const msg2 = cat(re, enc2);

  i.mixHash(re); i.mixKey(re);
  i.mixKey(dhN(V.initEphemeral, re));
  i.mixKey(dhN(V.initStatic, re));
  i.mixKeyAndHash(p.psk);
  expect(toHex(i.decryptAndHash(enc2))).to.equal(toHex(p.payload2));

  const [c1, c2] = i.split();
  const [r1, r2] = r.split();
  expect(toHex(c1)).to.equal(toHex(r1));
  expect(toHex(c2)).to.equal(toHex(r2));
  return { msg1, msg2, initiatorToResponder: c1, responderToInitiator: c2, handshakeHash: i.h };
}

// ---- the implementation under test, driven with the same fixed keys -----------------------------

function ourHandshake(p: { prologue: Uint8Array; psk?: Uint8Array; timestamp: Uint8Array }) {
  const initiator = keyPairFromPrivate(V.initStatic);
  const responder = keyPairFromPrivate(V.respStatic);
  const ss = Buffer.from(dhN(V.initStatic, responder.publicKey));
  const { message: m1, handshake: ih } = createInitiation(
    initiator, responder.publicKey, ss, 0x11223344, p.timestamp,
    { prologue: p.prologue, ephemeral: keyPairFromPrivate(V.initEphemeral) },
  );
  const consumed = consumeInitiation(responder, m1, (s) => {
    expect(toHex(s)).to.equal(toHex(initiator.publicKey));
    return { peer: 'initiator', staticStatic: ss };
  }, { prologue: p.prologue });
  if (typeof consumed === 'string') throw new Error(consumed);
  expect(toHex(consumed.timestamp)).to.equal(toHex(p.timestamp));
  const rh = consumed.handshake;
  const m2 = createResponse(rh, initiator.publicKey, p.psk, 0x55667788, { ephemeral: keyPairFromPrivate(V.respEphemeral) });
  expect(consumeResponse(ih, initiator, m2, p.psk)).to.equal(true);
  return { m1, m2, initiatorKeys: deriveTransportKeys(ih), responderKeys: deriveTransportKeys(rh) };
}

describe('wireguard noise: Noise_IKpsk2 handshake', () => {
  const timestamp = hex('400000006553f1000a0b0c0d');

  it('derives the constants recorded in FACTS.md (Ci and Hi prefixes)', () => {
    const ci = hash(Buffer.from(CONSTRUCTION));
    expect(toHex(ci).slice(0, 8)).to.equal('60e26dae');
    expect(toHex(hash(ci, Buffer.from(IDENTIFIER))).slice(0, 8)).to.equal('2211b361');
  });

  for (const [label, prologue] of [['cacophony prologue "John Galt"', V.prologue], ['WireGuard prologue (the identifier)', new TextEncoder().encode(IDENTIFIER)]] as const) {
    it(`matches an independent implementation byte for byte, with the ${label} and the cacophony psk`, () => {
      const ref = referenceHandshake({ prologue, psk: V.psk, payload1: timestamp, payload2: new Uint8Array(0) });
      const ours = ourHandshake({ prologue, psk: V.psk, timestamp });
      // Initiation: e ‖ enc(s) ‖ enc(payload) sit at bytes 8..116 after type and sender index.
      expect(toHex(ours.m1.subarray(8, 116))).to.equal(toHex(ref.msg1));
      // Response: e ‖ enc(empty) at bytes 12..60.
      expect(toHex(ours.m2.subarray(12, 60))).to.equal(toHex(ref.msg2));
      expect(toHex(ours.initiatorKeys.send)).to.equal(toHex(ref.initiatorToResponder));
      expect(toHex(ours.initiatorKeys.receive)).to.equal(toHex(ref.responderToInitiator));
      expect(toHex(ours.responderKeys.send)).to.equal(toHex(ref.responderToInitiator));
      expect(toHex(ours.responderKeys.receive)).to.equal(toHex(ref.initiatorToResponder));
    });
  }

  it('uses an all-zero psk when none is configured, as Noise_IKpsk2 with WireGuard requires', () => {
    const prologue = new TextEncoder().encode(IDENTIFIER);
    const ref = referenceHandshake({ prologue, psk: new Uint8Array(32), payload1: timestamp, payload2: new Uint8Array(0) });
    const ours = ourHandshake({ prologue, timestamp });
    expect(toHex(ours.m2.subarray(12, 60))).to.equal(toHex(ref.msg2));
    expect(toHex(ours.initiatorKeys.send)).to.equal(toHex(ref.initiatorToResponder));
  });

  it('lays out the messages as WireGuard does (type, indices, sizes)', () => {
    const ours = ourHandshake({ prologue: new TextEncoder().encode(IDENTIFIER), timestamp });
    expect(ours.m1.length).to.equal(148);
    expect(toHex(ours.m1.subarray(0, 8))).to.equal('0100000044332211');
    expect(ours.m2.length).to.equal(92);
    expect(toHex(ours.m2.subarray(0, 12))).to.equal('020000008877665544332211');
    expect(ours.initiatorKeys.localIndex).to.equal(0x11223344);
    expect(ours.initiatorKeys.remoteIndex).to.equal(0x55667788);
    expect(ours.responderKeys.remoteIndex).to.equal(0x11223344);
  });

  it('refuses a response made with a different preshared key', () => {
    const initiator = keyPairFromPrivate(V.initStatic);
    const responder = keyPairFromPrivate(V.respStatic);
    const ss = Buffer.from(dhN(V.initStatic, responder.publicKey));
    const { message, handshake } = createInitiation(initiator, responder.publicKey, ss, 1, timestamp);
    const consumed = consumeInitiation(responder, message, () => ({ peer: 1, staticStatic: ss }));
    if (typeof consumed === 'string') throw new Error(consumed);
    const m2 = createResponse(consumed.handshake, initiator.publicKey, V.psk, 2);
    expect(consumeResponse(handshake, initiator, m2, undefined)).to.equal(false);
    expect(handshake.state).to.equal('initiation-created');
  });

  it('refuses an initiation from an unknown static key, and one sent to someone else', () => {
    const initiator = keyPairFromPrivate(V.initStatic);
    const responder = keyPairFromPrivate(V.respStatic);
    const stranger = keyPairFromPrivate(V.initEphemeral);
    const ss = Buffer.from(dhN(V.initStatic, responder.publicKey));
    const { message } = createInitiation(initiator, responder.publicKey, ss, 1, timestamp);
    expect(consumeInitiation(responder, message, () => undefined)).to.equal('unknown peer');
    expect(consumeInitiation(stranger, message, () => ({ peer: 1, staticStatic: ss }))).to.equal('static key does not decrypt');
  });
});
