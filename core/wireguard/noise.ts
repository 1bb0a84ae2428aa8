// The Noise_IKpsk2 handshake as WireGuard uses it (whitepaper §5.4.2–5.4.5): initiation,
// response, and the split into transport keys. Pure functions over a Handshake record; the
// device decides when to call them and keeps indices, peers and timers.
import type { KeyObject } from 'node:crypto';
import { CONSTRUCTION, IDENTIFIER } from './constants.js';
import { aeadOpen, aeadSeal, hash, kdf1, kdf2, kdf3, wipe } from './crypto.js';
import { dh, generateKeyPair, type KeyPair } from '../keys/index.js';
import {
  decodeInitiation, decodeResponse, encodeInitiation, encodeResponse,
} from './messages.js';
import type { InitiationRefusal } from './drops.js';
import { TAI64N_SIZE } from './tai64n.js';

/**
 * Test seams. WireGuard fixes the prologue to its identifier and draws a fresh ephemeral key per
 * handshake; the published Noise vectors use other prologues and fixed ephemerals.
 */
export interface NoiseOptions {
  prologue?: Uint8Array;
  ephemeral?: KeyPair;
}

export interface LocalIdentity {
  privateKey: KeyObject;
  publicKey: Uint8Array;
}

export type HandshakeState = 'zeroed' | 'initiation-created' | 'initiation-consumed' | 'response-created' | 'response-consumed';

export interface Handshake {
  state: HandshakeState;
  chainKey: Uint8Array;
  hash: Uint8Array;
  localEphemeral?: KeyPair;
  remoteEphemeral?: Uint8Array;
  localIndex: number;
  remoteIndex: number;
}

export function zeroHandshake(): Handshake {
  return { state: 'zeroed', chainKey: new Uint8Array(32), hash: new Uint8Array(32), localIndex: 0, remoteIndex: 0 };
}

export function clearHandshake(h: Handshake): void {
  wipe(h.chainKey, h.hash, h.remoteEphemeral);
  Object.assign(h, zeroHandshake());
}

const INITIAL_CHAIN_KEY = hash(Buffer.from(CONSTRUCTION));
const WIREGUARD_PROLOGUE = Buffer.from(IDENTIFIER);
const INITIAL_HASH = hash(INITIAL_CHAIN_KEY, WIREGUARD_PROLOGUE);
const ZERO_PSK = new Uint8Array(32);
const EMPTY = new Uint8Array(0);

function initialHash(opts?: NoiseOptions): Buffer {
  return opts?.prologue ? hash(INITIAL_CHAIN_KEY, opts.prologue) : INITIAL_HASH;
}

/** Builds a handshake initiation (mac1 and mac2 left zero for the cookie layer to fill). */
export function createInitiation(
  local: LocalIdentity,
  remoteStatic: Uint8Array,
  staticStatic: Uint8Array,
  senderIndex: number,
  timestamp: Uint8Array,
  opts?: NoiseOptions,
): { message: Buffer; handshake: Handshake } {
  const ephemeral = opts?.ephemeral ?? generateKeyPair();
  let h = hash(initialHash(opts), remoteStatic);
  let ck: Buffer = INITIAL_CHAIN_KEY;

  ck = kdf1(ck, ephemeral.publicKey);
  h = hash(h, ephemeral.publicKey);

  const es = dh(ephemeral.privateKey, remoteStatic);
  if (!es) throw new Error('peer public key is of low order');
  let key: Buffer;
  [ck, key] = kdf2(ck, es);
  const encryptedStatic = aeadSeal(key, 0, local.publicKey, h);
  h = hash(h, encryptedStatic);

  [ck, key] = kdf2(ck, staticStatic);
  const encryptedTimestamp = aeadSeal(key, 0, timestamp, h);
  h = hash(h, encryptedTimestamp);
  wipe(es, key);

  const message = encodeInitiation({ sender: senderIndex, ephemeral: ephemeral.publicKey, encryptedStatic, encryptedTimestamp });
  return {
    message,
    handshake: { state: 'initiation-created', chainKey: ck, hash: h, localEphemeral: ephemeral, localIndex: senderIndex, remoteIndex: 0 },
  };
}

export interface ConsumedInitiation<P> {
  peer: P;
  timestamp: Uint8Array;
  handshake: Handshake;
}

/**
 * Opens an initiation addressed to `local`. `findPeer` maps the initiator's decrypted static
 * key to a configured peer and its precomputed DH(S_local, S_peer); an unknown key ends it.
 * Returns the reason when the message is refused.
 */
export function consumeInitiation<P>(
  local: LocalIdentity,
  message: Uint8Array,
  findPeer: (remoteStatic: Uint8Array) => { peer: P; staticStatic: Uint8Array } | undefined,
  opts?: NoiseOptions,
): ConsumedInitiation<P> | InitiationRefusal {
  const m = decodeInitiation(message);
  let h = hash(initialHash(opts), local.publicKey);
  let ck: Buffer = INITIAL_CHAIN_KEY;

  ck = kdf1(ck, m.ephemeral);
  h = hash(h, m.ephemeral);

  const es = dh(local.privateKey, m.ephemeral);
  if (!es) return 'low-order ephemeral key';
  let key: Buffer;
  [ck, key] = kdf2(ck, es);
  const remoteStatic = aeadOpen(key, 0, m.encryptedStatic, h);
  if (!remoteStatic) return 'static key does not decrypt';
  h = hash(h, m.encryptedStatic);

  const found = findPeer(remoteStatic);
  if (!found) return 'unknown peer';

  [ck, key] = kdf2(ck, found.staticStatic);
  const timestamp = aeadOpen(key, 0, m.encryptedTimestamp, h);
  if (!timestamp || timestamp.length !== TAI64N_SIZE) return 'timestamp does not decrypt';
  h = hash(h, m.encryptedTimestamp);
  wipe(es, key);

  return {
    peer: found.peer,
    timestamp,
    handshake: {
      state: 'initiation-consumed', chainKey: ck, hash: h,
      remoteEphemeral: new Uint8Array(m.ephemeral), localIndex: 0, remoteIndex: m.sender,
    },
  };
}

/** Answers a consumed initiation; the handshake then holds the final chaining key. */
export function createResponse(
  hs: Handshake,
  remoteStatic: Uint8Array,
  presharedKey: Uint8Array | undefined,
  senderIndex: number,
  opts?: NoiseOptions,
): Buffer {
  if (hs.state !== 'initiation-consumed' || !hs.remoteEphemeral) throw new Error('no initiation to answer');
  const ephemeral = opts?.ephemeral ?? generateKeyPair();
  let ck: Buffer = kdf1(hs.chainKey, ephemeral.publicKey);
  let h = hash(hs.hash, ephemeral.publicKey);

  const ee = dh(ephemeral.privateKey, hs.remoteEphemeral);
  const se = dh(ephemeral.privateKey, remoteStatic);
  if (!ee || !se) throw new Error('low-order key in handshake');
  ck = kdf1(ck, ee);
  ck = kdf1(ck, se);

  const [ck2, tau, key] = kdf3(ck, presharedKey ?? ZERO_PSK);
  h = hash(h, tau);
  const encryptedNothing = aeadSeal(key, 0, EMPTY, h);
  h = hash(h, encryptedNothing);
  wipe(ee, se, tau, key, ck);

  Object.assign(hs, { state: 'response-created', chainKey: ck2, hash: h, localIndex: senderIndex, localEphemeral: ephemeral });
  return encodeResponse({ sender: senderIndex, receiver: hs.remoteIndex, ephemeral: ephemeral.publicKey, encryptedNothing });
}

/** Completes an initiation we sent; false (and the handshake untouched) if the response is not for it. */
export function consumeResponse(
  hs: Handshake,
  local: LocalIdentity,
  message: Uint8Array,
  presharedKey: Uint8Array | undefined,
): boolean {
  if (hs.state !== 'initiation-created' || !hs.localEphemeral) return false;
  const m = decodeResponse(message);
  if (m.receiver !== hs.localIndex) return false;

  let ck: Buffer = kdf1(hs.chainKey, m.ephemeral);
  let h = hash(hs.hash, m.ephemeral);
  const ee = dh(hs.localEphemeral.privateKey, m.ephemeral);
  const se = dh(local.privateKey, m.ephemeral);
  if (!ee || !se) return false;
  ck = kdf1(ck, ee);
  ck = kdf1(ck, se);

  const [ck2, tau, key] = kdf3(ck, presharedKey ?? ZERO_PSK);
  h = hash(h, tau);
  const ok = aeadOpen(key, 0, m.encryptedNothing, h);
  wipe(ee, se, tau, key, ck);
  if (!ok) return false;
  h = hash(h, m.encryptedNothing);

  Object.assign(hs, { state: 'response-consumed', chainKey: ck2, hash: h, remoteEphemeral: new Uint8Array(m.ephemeral), remoteIndex: m.sender });
  return true;
}

export interface TransportKeys {
  send: Buffer;
  receive: Buffer;
  initiator: boolean;
  localIndex: number;
  remoteIndex: number;
}

/** Splits the final chaining key into the two transport keys and forgets the handshake. */
export function deriveTransportKeys(hs: Handshake): TransportKeys {
  const initiator = hs.state === 'response-consumed';
  if (!initiator && hs.state !== 'response-created') throw new Error('handshake not complete');
  const [first, second] = kdf2(hs.chainKey, EMPTY);
  const indices = { initiator, localIndex: hs.localIndex, remoteIndex: hs.remoteIndex };
  clearHandshake(hs);
  return initiator ? { send: first, receive: second, ...indices } : { send: second, receive: first, ...indices };
}
