// Handshake messages (wireguard-go's noise handling in send.go/receive.go): sending initiations,
// answering them, completing on a response, and taking cookie replies. The mac1/mac2 gate and
// the per-source rate limit run first (handshake-gate.ts); this file does the DH work.
import type { DeviceContext } from './context.js';
import { addMacs, consumeCookieReply } from './cookie.js';
import { HANDSHAKE_INITIATION_RATE } from './constants.js';
import { dh, formatKey, publicKeyObject } from '../keys/index.js';
import { decodeCookieReply, decodeResponse } from './messages.js';
import {
  clearHandshake, consumeInitiation, consumeResponse, createInitiation, createResponse, deriveTransportKeys, type LocalIdentity,
} from './noise.js';
import type { Paths } from './paths.js';
import { formatEndpoint, installKeypair, type Endpoint, type Keypair, type Peer } from './peer.js';
import { createReplayFilter } from './replay.js';
import { tai64n, tai64nAfter } from './tai64n.js';
import {
  timersAnyAuthenticatedPacketReceived, timersAnyAuthenticatedPacketSent, timersAnyAuthenticatedPacketTraversal,
  timersHandshakeComplete, timersHandshakeInitiated, timersHandshakeRetryHeld, timersInitiationsCrossed, timersSessionDerived,
} from './timers.js';

export interface Handshakes {
  /** Starts a handshake with `peer` (or retries one), within the one-per-REKEY_TIMEOUT limit. */
  sendInitiation(peer: Peer, retry: boolean): void;
  /** A session is confirmed (we initiated and got the response, or the initiator's first packet arrived). */
  completed(peer: Peer, initiator: boolean): void;
  /** `local`: the answered key the initiation is addressed to (its mac1 says which). */
  handleInitiation(d: Uint8Array, from: Endpoint, local: LocalIdentity): void;
  /** `local`: the key our initiation was made with. */
  handleResponse(d: Uint8Array, from: Endpoint, local: LocalIdentity): void;
  handleCookieReply(d: Uint8Array): void;
}

export interface HandshakeDeps {
  paths: Paths;
  /** Confirms a fresh initiator session to the responder. */
  sendKeepalive(peer: Peer): void;
}

export function createHandshakes(ctx: DeviceContext, deps: HandshakeDeps): Handshakes {
  const { clock, timings, indices, log, drop } = ctx;
  const { paths } = deps;

  function sendInitiation(peer: Peer, retry: boolean): void {
    if (ctx.isClosed()) return;
    if (!retry) peer.timers.handshakeAttempts = 0;
    const now = clock.now();
    const restartAt = peer.timers.restartAfterCrossAt;
    if (now - peer.lastSentHandshake < timings.rekeyTimeout && !(restartAt !== undefined && now >= restartAt)) {
      if (retry) timersHandshakeRetryHeld(peer.timers, Math.min(restartAt ?? Infinity, peer.lastSentHandshake + timings.rekeyTimeout) - now);
      return;
    }
    peer.timers.restartAfterCrossAt = undefined;
    peer.lastSentHandshake = now;
    if (peer.handshake.localIndex) indices.delete(peer.handshake.localIndex);
    const localIndex = indices.allocate({ peer });
    const { message, handshake } = createInitiation(ctx.local, peer.publicKey, peer.staticStatic, localIndex, tai64n(clock.wallTime()));
    clearHandshake(peer.handshake);
    peer.handshake = handshake;
    addMacs(peer.cookie, message, now, timings.cookieRefreshTime);
    timersAnyAuthenticatedPacketTraversal(peer.timers);
    timersAnyAuthenticatedPacketSent(peer.timers);
    peer.counters.initiationsSent++;
    if (peer.state !== 'up') ctx.setState(peer, 'handshaking', retry ? 'retrying handshake' : 'initiating handshake');
    log.debug({ peer: peer.id, retry }, 'sending handshake initiation');
    paths.transmit(peer, message);
    timersHandshakeInitiated(peer.timers, timings);
  }

  function completed(peer: Peer, initiator: boolean): void {
    timersHandshakeComplete(peer.timers);
    peer.lastHandshakeWallTime = clock.wallTime();
    peer.counters.handshakes++;
    ctx.setState(peer, 'up', 'handshake completed');
    const endpoint = formatEndpoint(peer.endpoint);
    log.info({ peer: peer.id, initiator, endpoint }, 'handshake completed');
    ctx.events.emit('handshake', { publicKey: peer.id, initiator, endpoint });
  }

  function beginSession(peer: Peer): void {
    const keys = deriveTransportKeys(peer.handshake);
    const keypair: Keypair = {
      sendKey: keys.send, receiveKey: keys.receive, sendNonce: 0, replay: createReplayFilter(),
      created: clock.now(), initiator: keys.initiator, localIndex: keys.localIndex, remoteIndex: keys.remoteIndex,
    };
    // The handshake's index now names the session.
    indices.set(keypair.localIndex, { peer, keypair });
    indices.freeKeypairs(installKeypair(peer, keypair));
    timersSessionDerived(peer.timers, timings);
  }

  function handleInitiation(d: Uint8Array, from: Endpoint, local: LocalIdentity): void {
    const result = consumeInitiation(local, d, (pub) => {
      const peer = ctx.peers.get(formatKey(pub));
      if (!peer) return undefined;
      // A key answered besides the own one (an identity change under way): its DH on demand.
      const staticStatic = local === ctx.local ? peer.staticStatic : dh(local.privateKey, publicKeyObject(peer.publicKey));
      return staticStatic ? { peer, staticStatic } : undefined;
    });
    if (typeof result === 'string') return drop(`initiation: ${result}`, { from: formatEndpoint(from) });
    const peer = result.peer;
    const now = clock.now();
    if (peer.latestTimestamp && !tai64nAfter(result.timestamp, peer.latestTimestamp)) {
      return drop('initiation: replayed timestamp', { peer: peer.id });
    }
    if (now - peer.lastInitiationConsumed < HANDSHAKE_INITIATION_RATE) return drop('initiation: flood', { peer: peer.id });
    peer.latestTimestamp = result.timestamp;
    peer.lastInitiationConsumed = now;
    const crossed = peer.handshake.state === 'initiation-created';
    if (peer.handshake.localIndex) indices.delete(peer.handshake.localIndex);
    clearHandshake(peer.handshake);
    peer.handshake = result.handshake;

    timersAnyAuthenticatedPacketTraversal(peer.timers);
    timersAnyAuthenticatedPacketReceived(peer.timers);
    paths.authenticated(peer, from, 'initiation');

    // Answer it (wireguard-go's SendHandshakeResponse).
    peer.lastSentHandshake = now;
    const localIndex = indices.allocate({ peer });
    const response = createResponse(peer.handshake, peer.publicKey, peer.presharedKey, localIndex);
    addMacs(peer.cookie, response, now, timings.cookieRefreshTime);
    beginSession(peer);
    timersAnyAuthenticatedPacketTraversal(peer.timers);
    timersAnyAuthenticatedPacketSent(peer.timers);
    log.debug({ peer: peer.id, endpoint: formatEndpoint(from) }, 'answering handshake initiation');
    paths.transmit(peer, response);
    if (crossed && Buffer.compare(ctx.local.publicKey, peer.publicKey) < 0) {
      log.debug({ peer: peer.id }, 'initiations crossed: starting once more');
      timersInitiationsCrossed(peer.timers, now);
    }
  }

  function handleResponse(d: Uint8Array, from: Endpoint, local: LocalIdentity): void {
    const entry = indices.get(decodeResponse(d).receiver);
    if (!entry || entry.keypair) return drop('response: unknown index');
    const peer = entry.peer;
    if (!consumeResponse(peer.handshake, local, d, peer.presharedKey)) return drop('response: does not authenticate', { peer: peer.id });
    paths.authenticated(peer, from, 'response');
    timersAnyAuthenticatedPacketTraversal(peer.timers);
    timersAnyAuthenticatedPacketReceived(peer.timers);
    beginSession(peer);
    completed(peer, true);
    // Confirms the session to the responder, which waits for a packet under it.
    deps.sendKeepalive(peer);
  }

  function handleCookieReply(d: Uint8Array): void {
    // The index is that of our initiation, or of our response (already a session's then).
    const entry = indices.get(decodeCookieReply(d).receiver);
    if (!entry) return drop('cookie reply: unknown index');
    if (!consumeCookieReply(entry.peer.cookie, d, clock.now())) return drop('cookie reply: does not authenticate');
    entry.peer.counters.cookiesReceived++;
    log.info({ peer: entry.peer.id }, 'cookie reply received');
  }

  return { sendInitiation, completed, handleInitiation, handleResponse, handleCookieReply };
}
