// One configured peer: its keys, where it is, its handshake and up to three sessions, following
// wireguard-go's keypair rotation (peer.go, noise-protocol.go): `current` sends, `previous` still
// receives stragglers, `next` is a responder's session not yet confirmed by the initiator.
import type { CookieGenerator } from './cookie.js';
import { wipe } from './crypto.js';
import type { Handshake } from './noise.js';
import type { ReplayFilter } from './replay.js';
import type { PeerTimers } from './timers.js';

/** Where a peer's outer datagrams go: a UDP address, or a relay the layer above provides. */
export type Endpoint = { host: string; port: number } | { relay: string };

export function formatEndpoint(e: Endpoint | undefined): string | undefined {
  if (!e) return undefined;
  return 'relay' in e ? `relay:${e.relay}` : `${e.host}:${e.port}`;
}

export function sameEndpoint(a: Endpoint | undefined, b: Endpoint): boolean {
  if (!a) return false;
  if ('relay' in a || 'relay' in b) return 'relay' in a && 'relay' in b && a.relay === b.relay;
  return a.host === b.host && a.port === b.port;
}

export interface Keypair {
  sendKey: Buffer;
  receiveKey: Buffer;
  sendNonce: number;
  replay: ReplayFilter;
  /** Monotonic ms when the session was derived. */
  created: number;
  initiator: boolean;
  localIndex: number;
  remoteIndex: number;
}

export type PeerState = 'idle' | 'handshaking' | 'up' | 'down';

export interface PeerCounters {
  rxBytes: number;
  txBytes: number;
  rxPackets: number;
  txPackets: number;
  keepalivesSent: number;
  keepalivesReceived: number;
  handshakes: number;
  initiationsSent: number;
  cookiesReceived: number;
}

export interface Peer {
  id: string;
  publicKey: Uint8Array;
  presharedKey?: Uint8Array;
  /** DH(our static, its static), computed once: it never changes for a peer. */
  staticStatic: Uint8Array;
  endpoint?: Endpoint;
  handshake: Handshake;
  lastSentHandshake: number;
  lastInitiationConsumed: number;
  latestTimestamp?: Uint8Array;
  keypairs: { current?: Keypair; previous?: Keypair; next?: Keypair };
  cookie: CookieGenerator;
  /** IP packets waiting for a session. */
  staged: Buffer[];
  timers: PeerTimers;
  state: PeerState;
  lastHandshakeWallTime?: number;
  counters: PeerCounters;
}

export function newCounters(): PeerCounters {
  return {
    rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0, keepalivesSent: 0, keepalivesReceived: 0,
    handshakes: 0, initiationsSent: 0, cookiesReceived: 0,
  };
}

function zeroKeypair(k: Keypair | undefined): void {
  if (k) wipe(k.sendKey, k.receiveKey);
}

/**
 * Installs a fresh session. Returns the keypairs that were dropped, so the device can free their
 * indices. An initiator uses the session at once; a responder waits for the first packet under it.
 */
export function installKeypair(peer: Peer, keypair: Keypair): Keypair[] {
  const k = peer.keypairs;
  const dropped: Keypair[] = [];
  if (keypair.initiator) {
    if (k.next) {
      if (k.previous) dropped.push(k.previous);
      if (k.current) dropped.push(k.current);
      k.previous = k.next;
      k.next = undefined;
    } else {
      if (k.previous) dropped.push(k.previous);
      k.previous = k.current;
    }
    k.current = keypair;
  } else {
    if (k.next) dropped.push(k.next);
    if (k.previous) dropped.push(k.previous);
    k.next = keypair;
    k.previous = undefined;
  }
  dropped.forEach(zeroKeypair);
  return dropped;
}

/** A packet arrived under `keypair`: if it is the pending `next`, the responder's session is confirmed. */
export function confirmKeypair(peer: Peer, keypair: Keypair): Keypair | undefined {
  const k = peer.keypairs;
  if (k.next !== keypair) return undefined;
  const dropped = k.previous;
  zeroKeypair(dropped);
  k.previous = k.current;
  k.current = keypair;
  k.next = undefined;
  return dropped;
}

/** Forgets every session; returns them so the device can free their indices. */
export function dropKeypairs(peer: Peer): Keypair[] {
  const k = peer.keypairs;
  const all = [k.current, k.previous, k.next].filter((x): x is Keypair => !!x);
  all.forEach(zeroKeypair);
  peer.keypairs = {};
  return all;
}
