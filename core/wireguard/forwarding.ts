// Classic routing (a hub): an inner packet for another mesh address goes on, whole or as the
// fragment it is, to the peer whose AllowedIPs hold its destination, with its TTL one lower, as
// an IP router would send it. Off unless the device is created with `forwarding: true`.
import type { DeviceContext } from './context.js';
import { formatIPv4, fragmentIPv4, internetChecksum, type IPv4Packet } from './ipv4.js';
import type { Peer } from './peer.js';
import type { Transport } from './transport.js';

export interface Forwarding {
  forward(from: Peer, ip: IPv4Packet): void;
  /** Packets routed on so far. */
  readonly forwarded: number;
}

export function createForwarding(
  ctx: DeviceContext, deps: { enabled: boolean; transport: Pick<Transport, 'stage' | 'sendStaged'> },
): Forwarding {
  const { drop, routes, mtu } = ctx;
  let forwarded = 0;
  return {
    forward(from, ip) {
      if (!deps.enabled) return drop('inner: not for this address', { peer: from.id });
      const destination = formatIPv4(ip.destination);
      const to = routes.lookup(ip.destination);
      if (!to) return drop('forward: no route', { peer: from.id, destination });
      // Its own AllowedIPs cover the destination: sending it back would loop between the two.
      if (to === from) return drop('forward: route leads back to the sender', { peer: from.id, destination });
      if (ip.ttl <= 1) return drop('forward: ttl expired', { peer: from.id, destination });
      const out = Buffer.from(ip.packet);
      out[8]--;
      out.writeUInt16BE(0, 10);
      out.writeUInt16BE(internetChecksum(out.subarray(0, ip.headerLength)), 10);
      forwarded++;
      for (const fragment of fragmentIPv4(out, mtu)) deps.transport.stage(to, fragment);
      deps.transport.sendStaged(to);
    },
    get forwarded() { return forwarded; },
  };
}
