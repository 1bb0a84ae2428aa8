// The hub's lighthouse (Nebula's name): it learns every spoke's observed public endpoint from the
// spoke's authenticated datagrams (what its NAT maps it to), and the spoke's own local endpoints
// from its asks. When spoke A asks to meet spoke B, both ends are told about each other at once
// (a meet each), so both send to each other at the same moment and each opens its own NAT for
// the other (simultaneous open). Two spokes behind one NAT (seen from the same public address)
// learn each other's LAN endpoints; nobody else is told a spoke's private addresses.
import type { Endpoint } from '../../underlay/endpoint.js';
import { MAX_ENDPOINTS, type PathMessage } from './wire.js';

export interface Introduction {
  /** Mesh address the meet goes to. */
  to: string;
  message: Extract<PathMessage, { type: 'meet' }>;
}

export interface Lighthouse {
  /** An authenticated datagram from the spoke at mesh address `spoke` arrived from `from`. */
  observed(spoke: string, from: Endpoint): void;
  /** Spoke `from` asks to meet `peer`: both meets, or a reason there are none. */
  ask(from: string, peer: string, local: Endpoint[]): Introduction[] | { refused: string };
  forget(spoke: string): void;
  endpointOf(spoke: string): Endpoint | undefined;
}

const same = (a: Endpoint, b: Endpoint) => a.host === b.host && a.port === b.port;

export function createLighthouse(): Lighthouse {
  const seen = new Map<string, Endpoint>();
  const locals = new Map<string, Endpoint[]>();

  /** What to tell `other` about `spoke`: where the hub sees it, then (behind the same NAT) its local endpoints. */
  function endpointsOf(spoke: string, other: string): Endpoint[] {
    const list: Endpoint[] = [];
    const sameNat = seen.get(spoke)?.host === seen.get(other)?.host;
    for (const e of [seen.get(spoke), ...(sameNat ? locals.get(spoke) ?? [] : [])]) {
      if (e && !list.some((x) => same(x, e)) && list.length < MAX_ENDPOINTS) list.push(e);
    }
    return list;
  }

  return {
    observed(spoke, from) {
      // Called for every authenticated datagram the hub gets: no allocation unless it moved.
      const known = seen.get(spoke);
      if (!known || !same(known, from)) seen.set(spoke, { host: from.host, port: from.port });
    },
    ask(from, peer, local) {
      if (from === peer) return { refused: 'asked to meet itself' };
      locals.set(from, local.slice(0, MAX_ENDPOINTS - 1));
      if (!seen.has(from)) return { refused: 'asker not seen directly' };
      if (!seen.has(peer)) return { refused: 'peer not seen yet' };
      return [
        { to: from, message: { type: 'meet', peer, endpoints: endpointsOf(peer, from) } },
        { to: peer, message: { type: 'meet', peer: from, endpoints: endpointsOf(from, peer) } },
      ];
    },
    forget(spoke) {
      seen.delete(spoke);
      locals.delete(spoke);
    },
    endpointOf: (spoke) => seen.get(spoke),
  };
}
