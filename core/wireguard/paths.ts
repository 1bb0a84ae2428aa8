// Which endpoint a peer's datagrams go to, and what an authenticated datagram's source means.
//
// Classic WireGuard (no path owner): a peer has one endpoint; every authenticated datagram from
// it (handshake or transport) moves the endpoint to the datagram's source (roaming).
//
// With a PATH OWNER (the layer above, e.g. core/mesh's NAT paths): the device never roams. It
// reports every authenticated datagram to the owner (`authenticated`) and asks the owner to send
// every datagram for a peer (`send`); the owner picks the path (direct, relayed, ...) and sends
// through `device.sendDatagram(endpoint, datagram)`. Sessions never depend on the path, so the
// owner may switch paths at any time without a handshake. The peer's configured endpoint is
// then only a record (stats), not where datagrams go.
import type { Bind } from './bind.js';
import type { DeviceContext } from './context.js';
import { formatEndpoint, sameEndpoint, type Endpoint, type Peer } from './peer.js';

/** What arrived authenticated: a handshake message, or transport data (empty: a keepalive). */
export type AuthenticatedKind = 'initiation' | 'response' | 'data' | 'keepalive';

/** Interface the device declares and the layer above implements (device.setPathOwner). */
export interface PathOwner {
  /** A datagram from `peer` (base64 public key) authenticated; it arrived from `from`. */
  authenticated(peer: string, from: Endpoint, kind: AuthenticatedKind): void;
  /**
   * Sends an outer datagram to `peer` on the path the owner chooses (`device.sendDatagram`).
   * false when the owner has no path now: the device counts the drop as 'no path'.
   */
  send(peer: string, datagram: Buffer): boolean;
}

export interface Paths {
  /** Sends a peer's outer datagram on its path; false (counted) when it has none. */
  transmit(peer: Peer, datagram: Buffer): boolean;
  /** Sends a peer's outer datagram to one given endpoint, whatever its path. */
  transmitVia(peer: Peer, to: Endpoint, datagram: Buffer): boolean;
  /** A datagram from `peer` authenticated: roams, or tells the owner. */
  authenticated(peer: Peer, from: Endpoint, kind: AuthenticatedKind): void;
  setOwner(owner: PathOwner | undefined): void;
  /** Whether datagrams can go to the peer at all (an owner, or a known endpoint). */
  reachable(peer: Peer): boolean;
}

export function createPaths(ctx: DeviceContext, bind: Bind): Paths {
  let owner: PathOwner | undefined;

  function viaBind(peer: Peer, to: Endpoint, datagram: Buffer): boolean {
    const refused = bind.send(to, datagram, (err) => ctx.drop('send failed', { peer: peer.id, err: err.message }));
    if (refused) {
      ctx.drop(refused, { peer: peer.id, endpoint: formatEndpoint(to) });
      return false;
    }
    peer.counters.txBytes += datagram.length;
    return true;
  }

  return {
    transmit(peer, datagram) {
      if (owner) {
        if (!owner.send(peer.id, datagram)) {
          ctx.drop('no path', { peer: peer.id });
          return false;
        }
        peer.counters.txBytes += datagram.length;
        return true;
      }
      if (!peer.endpoint) {
        ctx.drop('no endpoint', { peer: peer.id });
        return false;
      }
      return viaBind(peer, peer.endpoint, datagram);
    },
    transmitVia: viaBind,
    authenticated(peer, from, kind) {
      if (owner) return owner.authenticated(peer.id, from, kind);
      if (sameEndpoint(peer.endpoint, from)) return;
      if (kind === 'data' || kind === 'keepalive') ctx.log.info({ peer: peer.id, endpoint: formatEndpoint(from) }, 'peer roamed');
      peer.endpoint = from;
    },
    setOwner(o) { owner = o; },
    reachable: (peer) => !!owner || !!peer.endpoint,
  };
}
