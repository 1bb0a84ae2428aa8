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
  /**
   * An authenticated datagram from the spoke at mesh address `spoke` arrived from `from`. The
   * first one from a spoke answers the asks that were waiting for it (else nothing is returned).
   */
  observed(spoke: string, from: Endpoint): Introduction[] | undefined;
  /** Spoke `from` asks to meet `peer`: both meets, or a reason there are none. */
  ask(from: string, peer: string, local: Endpoint[]): Introduction[] | { refused: string };
  forget(spoke: string): void;
  endpointOf(spoke: string): Endpoint | undefined;
}

const same = (a: Endpoint, b: Endpoint) => a.host === b.host && a.port === b.port;

export function createLighthouse(): Lighthouse {
  const seen = new Map<string, Endpoint>();
  const locals = new Map<string, Endpoint[]>();
  /** Asks refused because the peer was not seen yet: peer → askers, answered when it shows up. */
  const waiting = new Map<string, Set<string>>();

  /** What to tell `other` about `spoke`: where the hub sees it, then (behind the same NAT) its local endpoints. */
  function endpointsOf(spoke: string, other: string): Endpoint[] {
    const list: Endpoint[] = [];
    const sameNat = seen.get(spoke)?.host === seen.get(other)?.host;
    for (const e of [seen.get(spoke), ...(sameNat ? locals.get(spoke) ?? [] : [])]) {
      if (e && !list.some((x) => same(x, e)) && list.length < MAX_ENDPOINTS) list.push(e);
    }
    return list;
  }

  const meets = (from: string, peer: string): Introduction[] => [
    { to: from, message: { type: 'meet', peer, endpoints: endpointsOf(peer, from) } },
    { to: peer, message: { type: 'meet', peer: from, endpoints: endpointsOf(from, peer) } },
  ];

  return {
    observed(spoke, from) {
      // Called for every authenticated datagram the hub gets: no allocation unless it moved.
      const known = seen.get(spoke);
      if (known && same(known, from)) return undefined;
      seen.set(spoke, { host: from.host, port: from.port });
      const askers = !known && waiting.get(spoke);
      if (!askers) return undefined;
      waiting.delete(spoke);
      return [...askers].filter((a) => seen.has(a)).flatMap((a) => meets(a, spoke));
    },
    ask(from, peer, local) {
      if (from === peer) return { refused: 'asked to meet itself' };
      locals.set(from, local.slice(0, MAX_ENDPOINTS - 1));
      if (!seen.has(from)) return { refused: 'asker not seen directly' };
      if (!seen.has(peer)) {
        // Both ends are told the moment the peer first shows up, not at the asker's next ask (10 s).
        if (!waiting.has(peer)) waiting.set(peer, new Set());
        waiting.get(peer)!.add(from);
        return { refused: 'peer not seen yet' };
      }
      return meets(from, peer);
    },
    forget(spoke) {
      seen.delete(spoke);
      locals.delete(spoke);
      waiting.delete(spoke);
      for (const askers of waiting.values()) askers.delete(spoke);
    },
    endpointOf: (spoke) => seen.get(spoke),
  };
}
