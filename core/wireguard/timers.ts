// The per-peer protocol timers (whitepaper §6), event for event as wireguard-go's timers.go:
// the device reports what happened (data sent, handshake complete, ...) and these functions arm
// or disarm the five timers. What a timer does when it fires is the device's business.
import type { Clock } from './clock.js';
import { CROSSED_RESTART_AFTER, REKEY_TIMEOUT_JITTER_MAX, type ProtocolTimings } from './constants.js';

export interface Timer {
  mod(ms: number): void;
  del(): void;
  readonly pending: boolean;
}

/**
 * Pushing a pending timer later (persistent keepalive and others are pushed on every packet) only
 * records the new deadline; when the armed timer fires early it re-arms for the rest. So the
 * data path costs no setTimeout/clearTimeout per packet, and a timer still fires at its last
 * deadline.
 */
export function createTimer(clock: Clock, fn: () => void): Timer {
  return new LazyTimer(clock, fn);
}

// A class, so a peer's five timers share their methods (one closure each: the clock's callback).
class LazyTimer implements Timer {
  private handle: unknown;
  private armed = false;
  /** When the timer is due (the last mod's). */
  private deadline = 0;
  /** When the armed clock timer fires: never after `deadline`. */
  private armedAt = 0;
  private readonly fire = (): void => {
    const early = this.deadline - this.clock.now();
    if (early > 0) return this.arm(early);
    this.armed = false;
    this.fn();
  };

  constructor(private readonly clock: Clock, private readonly fn: () => void) {}

  get pending(): boolean {
    return this.armed;
  }

  mod(ms: number): void {
    this.deadline = this.clock.now() + ms;
    if (this.armed && this.deadline >= this.armedAt) return;
    if (this.armed) this.clock.clearTimer(this.handle);
    this.armed = true;
    this.arm(ms);
  }

  del(): void {
    if (this.armed) this.clock.clearTimer(this.handle);
    this.armed = false;
  }

  private arm(ms: number): void {
    this.armedAt = this.clock.now() + ms;
    this.handle = this.clock.setTimer(this.fire, ms);
  }
}

export interface TimerActions {
  /** No response to our initiation within REKEY_TIMEOUT: retry, or give up. */
  retransmitHandshake(): void;
  /** We received data and sent nothing back for KEEPALIVE_TIMEOUT. */
  sendKeepalive(): void;
  /** We sent data and heard nothing for KEEPALIVE_TIMEOUT + REKEY_TIMEOUT: the session may be dead. */
  newHandshake(): void;
  /** No new session for 3 × REJECT_AFTER_TIME: forget all keys. */
  zeroKeyMaterial(): void;
  persistentKeepalive(): void;
}

export interface PeerTimers {
  retransmitHandshake: Timer;
  sendKeepalive: Timer;
  newHandshake: Timer;
  zeroKeyMaterial: Timer;
  persistentKeepalive: Timer;
  handshakeAttempts: number;
  needAnotherKeepalive: boolean;
  sentLastMinuteHandshake: boolean;
  /**
   * After a crossing (monotonic ms): from then on, the next initiation is the restart, which the
   * one-per-REKEY_TIMEOUT limit lets pass; before it, an initiation would arrive as a flood.
   */
  restartAfterCrossAt?: number;
  /** Persistent keepalive interval in ms; 0 is off. */
  persistentKeepaliveInterval: number;
}

export function createPeerTimers(clock: Clock, actions: TimerActions, persistentKeepaliveInterval: number): PeerTimers {
  return {
    retransmitHandshake: createTimer(clock, actions.retransmitHandshake),
    sendKeepalive: createTimer(clock, actions.sendKeepalive),
    newHandshake: createTimer(clock, actions.newHandshake),
    zeroKeyMaterial: createTimer(clock, actions.zeroKeyMaterial),
    persistentKeepalive: createTimer(clock, actions.persistentKeepalive),
    handshakeAttempts: 0,
    needAnotherKeepalive: false,
    sentLastMinuteHandshake: false,
    persistentKeepaliveInterval,
  };
}

export function stopTimers(t: PeerTimers): void {
  t.retransmitHandshake.del();
  t.sendKeepalive.del();
  t.newHandshake.del();
  t.zeroKeyMaterial.del();
  t.persistentKeepalive.del();
}

/** Jitter keeps peers that lost a session together from retrying in lock-step. */
function jitter(): number {
  return Math.random() * REKEY_TIMEOUT_JITTER_MAX;
}

export function timersDataSent(t: PeerTimers, c: ProtocolTimings): void {
  if (!t.newHandshake.pending) t.newHandshake.mod(c.keepaliveTimeout + c.rekeyTimeout + jitter());
}

export function timersDataReceived(t: PeerTimers, c: ProtocolTimings): void {
  if (!t.sendKeepalive.pending) t.sendKeepalive.mod(c.keepaliveTimeout);
  else t.needAnotherKeepalive = true;
}

/** Any authenticated packet we send (data, keepalive, handshake) doubles as a keepalive. */
export function timersAnyAuthenticatedPacketSent(t: PeerTimers): void {
  t.sendKeepalive.del();
}

/** Any authenticated packet from the peer shows the session is alive. */
export function timersAnyAuthenticatedPacketReceived(t: PeerTimers): void {
  t.newHandshake.del();
}

export function timersAnyAuthenticatedPacketTraversal(t: PeerTimers): void {
  if (t.persistentKeepaliveInterval > 0) t.persistentKeepalive.mod(t.persistentKeepaliveInterval);
}

export function timersHandshakeInitiated(t: PeerTimers, c: ProtocolTimings): void {
  t.retransmitHandshake.mod(c.rekeyTimeout + jitter());
}

/**
 * A retry that the rate limit held back, because we answered the peer's own initiation since
 * (one handshake message per REKEY_TIMEOUT): it is postponed until the limit allows, not dropped.
 * wireguard-go drops it; when the two initiations crossed (each side answered the other's and
 * forgot its own, so neither answer completes), nothing then retries until new data is sent.
 */
export function timersHandshakeRetryHeld(t: PeerTimers, waitMs: number): void {
  t.retransmitHandshake.mod(waitMs + jitter());
}

/**
 * We answered the peer's initiation while ours was in flight, and ours is the lower key: if the
 * peer answered ours too, each forgot its own and neither answer completes. The lower key starts
 * once more shortly; the other side only answers. (A session completed meanwhile cancels it.)
 */
export function timersInitiationsCrossed(t: PeerTimers, now: number): void {
  t.restartAfterCrossAt = now + CROSSED_RESTART_AFTER;
  t.retransmitHandshake.mod(CROSSED_RESTART_AFTER);
}

export function timersHandshakeComplete(t: PeerTimers): void {
  t.retransmitHandshake.del();
  t.restartAfterCrossAt = undefined;
  t.handshakeAttempts = 0;
  t.sentLastMinuteHandshake = false;
}

export function timersSessionDerived(t: PeerTimers, c: ProtocolTimings): void {
  t.zeroKeyMaterial.mod(c.rejectAfterTime * 3);
}

/** wireguard-go's MaxTimerHandshakes: retries that fit in REKEY_ATTEMPT_TIME. */
export function maxTimerHandshakes(c: ProtocolTimings): number {
  return Math.floor(c.rekeyAttemptTime / c.rekeyTimeout);
}
