// What each per-peer timer does when it fires (wireguard-go's timers.go expired* functions);
// timers.ts decides when they fire.
import type { DeviceContext } from './context.js';
import type { Handshakes } from './handshake.js';
import { clearHandshake } from './noise.js';
import { dropKeypairs, type Peer } from './peer.js';
import { maxTimerHandshakes, type TimerActions } from './timers.js';
import type { Transport } from './transport.js';

/** Forgets every session and the handshake of `peer` (its indices too). */
export function zeroKeyMaterial(ctx: DeviceContext, peer: Peer): void {
  ctx.indices.freeKeypairs(dropKeypairs(peer));
  if (peer.handshake.localIndex) ctx.indices.delete(peer.handshake.localIndex);
  clearHandshake(peer.handshake);
}

export function createTimerActions(
  ctx: DeviceContext, deps: { handshakes: Pick<Handshakes, 'sendInitiation'>; transport: Pick<Transport, 'sendKeepalive'> },
): (peer: Peer) => TimerActions {
  const { log, timings, drop } = ctx;
  const { handshakes, transport } = deps;

  function retransmitHandshake(peer: Peer): void {
    if (peer.timers.handshakeAttempts > maxTimerHandshakes(timings)) {
      log.info({ peer: peer.id, attempts: peer.timers.handshakeAttempts + 1 }, 'handshake did not complete: giving up');
      peer.timers.sendKeepalive.del();
      if (peer.staged.length) drop('handshake gave up', { peer: peer.id, packets: peer.staged.length });
      peer.staged = [];
      if (!peer.timers.zeroKeyMaterial.pending) peer.timers.zeroKeyMaterial.mod(timings.rejectAfterTime * 3);
      ctx.setState(peer, 'down', 'handshake gave up');
      return;
    }
    peer.timers.handshakeAttempts++;
    log.debug({ peer: peer.id, attempt: peer.timers.handshakeAttempts }, 'handshake did not complete: retrying');
    handshakes.sendInitiation(peer, true);
  }

  return (peer) => ({
    retransmitHandshake: () => retransmitHandshake(peer),
    sendKeepalive: () => {
      transport.sendKeepalive(peer);
      if (peer.timers.needAnotherKeepalive) {
        peer.timers.needAnotherKeepalive = false;
        peer.timers.sendKeepalive.mod(timings.keepaliveTimeout);
      }
    },
    newHandshake: () => {
      log.debug({ peer: peer.id }, 'no reply to data: new handshake');
      handshakes.sendInitiation(peer, false);
    },
    zeroKeyMaterial: () => {
      zeroKeyMaterial(ctx, peer);
      ctx.setState(peer, 'down', 'keys zeroed');
    },
    persistentKeepalive: () => { if (peer.timers.persistentKeepaliveInterval > 0) transport.sendKeepalive(peer); },
  });
}
