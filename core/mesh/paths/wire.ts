// The path messages (docs/nat.md), the payload of a UDP datagram on the mesh from PATHS_PORT to
// PATHS_PORT. They travel inside WireGuard sessions, so every one is authenticated; probes are
// sent over one chosen outer path (the device's per-datagram `via`), so a pong proves that path
// both ways. After Tailscale's disco messages, without disco's own crypto (the session is it).
//
//   0         1        2
//   +---------+--------+-------------------------------------------------------------+
//   | version | type   | body                                                        |
//   +---------+--------+-------------------------------------------------------------+
//   ping  (1): txid[8]                                       spoke ↔ spoke, on one path
//   pong  (2): txid[8] observed[6]                           the ping's outer source (as STUN)
//   ask   (3): peer[4] count[1] local[6]·count               spoke → hub: introduce me to peer;
//                                                            my own local endpoints
//   meet  (4): peer[4] count[1] endpoint[6]·count            hub → spoke: peer is at these
//                                                            (observed first); punch now
//   peer: an IPv4 mesh address; endpoint: IPv4 address[4] port[2], big-endian.
//
// Bytes after a known body are ignored, so a later version may append fields; an unknown version
// or type is refused.
import type { Endpoint } from '../../underlay/endpoint.js';
import { formatIPv4, parseIPv4 } from '../../wireguard/ipv4.js';

export const WIRE_VERSION = 1;
/** At most this many endpoints in one ask or meet. */
export const MAX_ENDPOINTS = 8;

export type PathMessage =
  | { type: 'ping'; txid: Buffer }
  | { type: 'pong'; txid: Buffer; observed: Endpoint }
  | { type: 'ask'; peer: string; local: Endpoint[] }
  | { type: 'meet'; peer: string; endpoints: Endpoint[] };

const TYPES = { ping: 1, pong: 2, ask: 3, meet: 4 } as const;
const TXID = 8;
const ENDPOINT_SIZE = 6;

export class WireError extends Error {
  override name = 'WireError';
}

function putEndpoint(b: Buffer, at: number, e: Endpoint): void {
  const a = parseIPv4(e.host);
  if (!a) throw new WireError(`not an IPv4 endpoint: ${JSON.stringify(e)}`);
  b.set(a, at);
  b.writeUInt16BE(e.port, at + 4);
}

function getEndpoint(b: Uint8Array, at: number): Endpoint {
  return { host: formatIPv4(b.subarray(at, at + 4)), port: (b[at + 4] << 8) | b[at + 5] };
}

function putAddress(b: Buffer, at: number, address: string): void {
  const a = parseIPv4(address);
  if (!a) throw new WireError(`not an IPv4 mesh address: ${JSON.stringify(address)}`);
  b.set(a, at);
}

export function encodeMessage(m: PathMessage): Buffer {
  switch (m.type) {
    case 'ping':
    case 'pong': {
      if (m.txid.length !== TXID) throw new WireError(`a txid is ${TXID} bytes, not ${m.txid.length}`);
      const b = Buffer.alloc(2 + TXID + (m.type === 'pong' ? ENDPOINT_SIZE : 0));
      b.set(m.txid, 2);
      if (m.type === 'pong') putEndpoint(b, 2 + TXID, m.observed);
      return header(b, m.type);
    }
    case 'ask':
    case 'meet': {
      const list = m.type === 'ask' ? m.local : m.endpoints;
      if (list.length > MAX_ENDPOINTS) throw new WireError(`at most ${MAX_ENDPOINTS} endpoints, not ${list.length}`);
      const b = Buffer.alloc(2 + 4 + 1 + ENDPOINT_SIZE * list.length);
      putAddress(b, 2, m.peer);
      b[6] = list.length;
      list.forEach((e, i) => putEndpoint(b, 7 + ENDPOINT_SIZE * i, e));
      return header(b, m.type);
    }
  }
}

function header(b: Buffer, type: keyof typeof TYPES): Buffer {
  b[0] = WIRE_VERSION;
  b[1] = TYPES[type];
  return b;
}

/** The message, or why the bytes are not one (a precise reason, for the drop counter). */
export function decodeMessage(b: Uint8Array): PathMessage | { error: string } {
  if (b.length < 2) return { error: 'path message: too short' };
  if (b[0] !== WIRE_VERSION) return { error: 'path message: unsupported version' };
  const need = (n: number) => b.length >= n;
  switch (b[1]) {
    case TYPES.ping:
      if (!need(2 + TXID)) return { error: 'path message: ping too short' };
      return { type: 'ping', txid: Buffer.from(b.subarray(2, 2 + TXID)) };
    case TYPES.pong:
      if (!need(2 + TXID + ENDPOINT_SIZE)) return { error: 'path message: pong too short' };
      return { type: 'pong', txid: Buffer.from(b.subarray(2, 2 + TXID)), observed: getEndpoint(b, 2 + TXID) };
    case TYPES.ask:
    case TYPES.meet: {
      if (!need(7)) return { error: 'path message: ask/meet too short' };
      const count = b[6];
      if (count > MAX_ENDPOINTS) return { error: 'path message: too many endpoints' };
      if (!need(7 + ENDPOINT_SIZE * count)) return { error: 'path message: endpoint list cut short' };
      const list = Array.from({ length: count }, (_, i) => getEndpoint(b, 7 + ENDPOINT_SIZE * i));
      if (list.some((e) => e.port === 0)) return { error: 'path message: endpoint with port 0' };
      const peer = formatIPv4(b.subarray(2, 6));
      return b[1] === TYPES.ask ? { type: 'ask', peer, local: list } : { type: 'meet', peer, endpoints: list };
    }
    default:
      return { error: 'path message: unknown type' };
  }
}
