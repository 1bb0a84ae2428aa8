// The gate every handshake message passes before any DH work (wireguard-go's RoutineHandshake
// prologue): mac1 must be valid (it proves the sender knows our public key); under load, mac2
// must carry a fresh cookie for the sender's address, or the sender gets a cookie reply instead,
// and a source with a valid cookie is still held to its share (ratelimiter.ts, per IP address).
import type { Bind } from './bind.js';
import type { DeviceContext } from './context.js';
import { checkMac1, checkMac2, createCookieReply } from './cookie.js';
import type { Handshakes } from './handshake.js';
import { parseIPv4 } from './ipv4.js';
import type { LoadMeter } from './load.js';
import { MESSAGE_INITIATION } from './messages.js';
import { formatEndpoint, type Endpoint } from './peer.js';
import type { RateLimiter } from './ratelimiter.js';

export interface HandshakeGate {
  /** An initiation or response arrived from `from`. */
  receive(d: Uint8Array, type: number, from: Endpoint): void;
}

/** The bytes mac2's cookie is bound to: the sender's address and port (or its relay). */
function sourceBytes(from: Endpoint): Uint8Array {
  if ('relay' in from) return Buffer.from(`relay:${from.relay}`);
  const b = Buffer.alloc(6);
  b.set(parseIPv4(from.host) ?? [], 0);
  b.writeUInt16BE(from.port, 4);
  return b;
}

export function createHandshakeGate(
  ctx: DeviceContext, deps: { load: LoadMeter; limiter: RateLimiter; bind: Bind; handshakes: Handshakes },
): HandshakeGate {
  const { clock, timings, drop, log } = ctx;
  const { load, limiter, bind, handshakes } = deps;
  return {
    receive(d, type, from) {
      // Which of the keys answered the sender addressed (almost always the own one, first).
      const key = ctx.answered.find((k) => checkMac1(k.checker, d));
      if (!key) return drop('handshake: bad mac1', { from: formatEndpoint(from) });
      const { checker } = key;
      const source = sourceBytes(from);
      if (load.handshakeArrived()) {
        if (!checkMac2(checker, d, source, clock.now(), timings.cookieRefreshTime)) {
          const sender = new DataView(d.buffer, d.byteOffset + 4, 4).getUint32(0, true);
          bind.send(from, createCookieReply(checker, d, sender, source, clock.now(), timings.cookieRefreshTime));
          log.debug({ from: formatEndpoint(from) }, 'under load: cookie reply sent');
          return drop('handshake: cookie required');
        }
        if (!limiter.allow('relay' in from ? `relay:${from.relay}` : from.host)) return drop('handshake: rate limited', { from: formatEndpoint(from) });
      }
      if (type === MESSAGE_INITIATION) handshakes.handleInitiation(d, from, key.local);
      else handshakes.handleResponse(d, from, key.local);
    },
  };
}
