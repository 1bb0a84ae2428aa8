// IPv4, UDP and ICMP echo framing (RFC 791, 768, 792) for the packets inside the tunnel: the
// mesh addresses are virtual, so this endpoint builds and checks the headers a kernel would.

export const IPV4_HEADER_SIZE = 20;
export const UDP_HEADER_SIZE = 8;
export const PROTO_ICMP = 1;
export const PROTO_UDP = 17;
const ICMP_ECHO_REPLY = 0;
const ICMP_ECHO_REQUEST = 8;
const DEFAULT_TTL = 64;

export function parseIPv4(text: string): Uint8Array | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return null;
  const bytes = m.slice(1).map(Number);
  if (bytes.some((b, i) => b > 255 || (m[i + 1].length > 1 && m[i + 1][0] === '0'))) return null;
  return Uint8Array.from(bytes);
}

export function formatIPv4(b: Uint8Array): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/** The Internet checksum's 16-bit one's-complement sum (not yet inverted), continuing from `sum`. */
export function onesComplementSum(data: Uint8Array, sum = 0): number {
  const n = data.length & ~1;
  for (let i = 0; i < n; i += 2) sum += (data[i] << 8) | data[i + 1];
  if (data.length & 1) sum += data[data.length - 1] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

export function internetChecksum(data: Uint8Array, sum = 0): number {
  return ~onesComplementSum(data, sum) & 0xffff;
}

export interface IPv4Packet {
  source: Uint8Array;
  destination: Uint8Array;
  protocol: number;
  ttl: number;
  /** The bytes after the header, trimmed to the total length (WireGuard pads plaintext). */
  payload: Uint8Array;
  /** The header and payload without padding. */
  packet: Uint8Array;
  /** Part of a fragmented datagram: more fragments follow, or the offset is not zero. */
  fragment: boolean;
  id: number;
  moreFragments: boolean;
  /** Offset of this fragment's payload in the datagram, in bytes. */
  fragmentOffset: number;
  headerLength: number;
}

/** Parses and checks an IPv4 packet; null when it is not one or its header checksum fails. */
export function parseIPv4Packet(p: Uint8Array): IPv4Packet | null {
  if (p.length < IPV4_HEADER_SIZE || p[0] >> 4 !== 4) return null;
  const ihl = (p[0] & 0x0f) * 4;
  const total = (p[2] << 8) | p[3];
  if (ihl < IPV4_HEADER_SIZE || total < ihl || total > p.length) return null;
  if (internetChecksum(p.subarray(0, ihl)) !== 0) return null;
  const flagsFrag = (p[6] << 8) | p[7];
  return {
    source: p.subarray(12, 16),
    destination: p.subarray(16, 20),
    protocol: p[9],
    ttl: p[8],
    payload: p.subarray(ihl, total),
    packet: p.subarray(0, total),
    fragment: (flagsFrag & 0x3fff) !== 0,
    id: (p[4] << 8) | p[5],
    moreFragments: (flagsFrag & 0x2000) !== 0,
    fragmentOffset: (flagsFrag & 0x1fff) * 8,
    headerLength: ihl,
  };
}

let nextId = Math.floor(Math.random() * 0xffff);

/** Where a new packet's bytes come from (transport.allocPacket leaves room to seal it in place). */
export type PacketAlloc = (length: number) => Buffer;

function buildIPv4(source: Uint8Array, destination: Uint8Array, protocol: number, payloadLength: number, alloc: PacketAlloc): Buffer {
  const total = IPV4_HEADER_SIZE + payloadLength;
  if (total > 0xffff) throw new RangeError(`IPv4 packet too large: ${total} bytes`);
  const p = alloc(total);
  p.fill(0, 0, IPV4_HEADER_SIZE);
  p[0] = 0x45;
  p.writeUInt16BE(total, 2);
  p.writeUInt16BE((nextId = (nextId + 1) & 0xffff), 4);
  p[8] = DEFAULT_TTL;
  p[9] = protocol;
  p.set(source, 12);
  p.set(destination, 16);
  p.writeUInt16BE(internetChecksum(p.subarray(0, IPV4_HEADER_SIZE)), 10);
  return p;
}

function pseudoHeaderSum(source: Uint8Array, destination: Uint8Array, protocol: number, length: number): number {
  const ph = new Uint8Array(12);
  ph.set(source, 0);
  ph.set(destination, 4);
  ph[9] = protocol;
  ph[10] = length >> 8;
  ph[11] = length & 0xff;
  return onesComplementSum(ph);
}

export function buildUdpPacket(
  source: Uint8Array, destination: Uint8Array, sourcePort: number, destinationPort: number, payload: Uint8Array,
  alloc: PacketAlloc = Buffer.allocUnsafe,
): Buffer {
  const udpLength = UDP_HEADER_SIZE + payload.length;
  const p = buildIPv4(source, destination, PROTO_UDP, udpLength, alloc);
  const udp = p.subarray(IPV4_HEADER_SIZE);
  udp.writeUInt16BE(sourcePort, 0);
  udp.writeUInt16BE(destinationPort, 2);
  udp.writeUInt16BE(udpLength, 4);
  udp.writeUInt16BE(0, 6);
  udp.set(payload, UDP_HEADER_SIZE);
  // A computed 0 is sent as 0xffff: 0 on the wire means "no checksum".
  const sum = internetChecksum(udp, pseudoHeaderSum(source, destination, PROTO_UDP, udpLength));
  udp.writeUInt16BE(sum === 0 ? 0xffff : sum, 6);
  return p;
}

export interface UdpDatagram {
  sourcePort: number;
  destinationPort: number;
  payload: Uint8Array;
}

/** The UDP datagram in a parsed packet; null if malformed or its checksum (when present) fails. */
export function parseUdp(ip: IPv4Packet): UdpDatagram | null {
  const u = ip.payload;
  if (ip.protocol !== PROTO_UDP || ip.fragment || u.length < UDP_HEADER_SIZE) return null;
  const length = (u[4] << 8) | u[5];
  if (length < UDP_HEADER_SIZE || length > u.length) return null;
  const datagram = u.subarray(0, length);
  if (((u[6] << 8) | u[7]) !== 0 && internetChecksum(datagram, pseudoHeaderSum(ip.source, ip.destination, PROTO_UDP, length)) !== 0) {
    return null;
  }
  return { sourcePort: (u[0] << 8) | u[1], destinationPort: (u[2] << 8) | u[3], payload: u.subarray(UDP_HEADER_SIZE, length) };
}

/** The reply to an ICMP echo request (same identifier, sequence and data), or null if it is not one. */
export function icmpEchoReply(ip: IPv4Packet): Buffer | null {
  const icmp = ip.payload;
  if (ip.protocol !== PROTO_ICMP || ip.fragment || icmp.length < 8 || icmp[0] !== ICMP_ECHO_REQUEST) return null;
  if (internetChecksum(icmp) !== 0) return null;
  const p = buildIPv4(ip.destination, ip.source, PROTO_ICMP, icmp.length, Buffer.alloc);
  const reply = p.subarray(IPV4_HEADER_SIZE);
  reply.set(icmp);
  reply[0] = ICMP_ECHO_REPLY;
  reply[1] = 0;
  reply.writeUInt16BE(0, 2);
  reply.writeUInt16BE(internetChecksum(reply), 2);
  return p;
}

/** An ICMP echo request, for tests and tools that ping a peer from this side. */
export function buildIcmpEcho(source: Uint8Array, destination: Uint8Array, id: number, sequence: number, data: Uint8Array): Buffer {
  const p = buildIPv4(source, destination, PROTO_ICMP, 8 + data.length, Buffer.alloc);
  const icmp = p.subarray(IPV4_HEADER_SIZE);
  icmp[0] = ICMP_ECHO_REQUEST;
  icmp.writeUInt16BE(id, 4);
  icmp.writeUInt16BE(sequence, 6);
  icmp.set(data, 8);
  icmp.writeUInt16BE(internetChecksum(icmp), 2);
  return p;
}

const FLAG_DONT_FRAGMENT = 0x4000;
const FLAG_MORE_FRAGMENTS = 0x2000;

/**
 * Splits a packet larger than `mtu` into fragments, as a host's IP layer does (RFC 791 §3.2),
 * so a stock peer's TUN with that MTU accepts them. Packets that fit, or carry DF, pass whole.
 */
export function fragmentIPv4(packet: Buffer, mtu: number): Buffer[] {
  const ihl = (packet[0] & 0x0f) * 4;
  const flags = packet.readUInt16BE(6);
  if (packet.length <= mtu || flags & FLAG_DONT_FRAGMENT) return [packet];
  const header = packet.subarray(0, ihl);
  const payload = packet.subarray(ihl);
  const chunk = (mtu - ihl) & ~7;
  const baseOffset = (flags & 0x1fff) * 8;
  const out: Buffer[] = [];
  for (let at = 0; at < payload.length; at += chunk) {
    const part = payload.subarray(at, at + chunk);
    const last = at + chunk >= payload.length;
    const f = Buffer.concat([header, part]);
    f.writeUInt16BE(ihl + part.length, 2);
    f.writeUInt16BE(((baseOffset + at) / 8) | (last ? flags & FLAG_MORE_FRAGMENTS : FLAG_MORE_FRAGMENTS), 6);
    f.writeUInt16BE(0, 10);
    f.writeUInt16BE(internetChecksum(f.subarray(0, ihl)), 10);
    out.push(f);
  }
  return out;
}

export interface Reassembler {
  /** Takes a fragment; returns the reassembled datagram once complete, else null. */
  add(fragment: IPv4Packet, now: number): IPv4Packet | null;
}

/**
 * Reassembles fragmented datagrams (RFC 815's approach, simplified): fragments are kept per
 * (source, destination, protocol, id) for `timeout` ms; overlapping fragments void the datagram;
 * at most `maxPending` datagrams are in progress (the oldest gives way to a new one), so a flood
 * of fragments cannot use up memory.
 */
export function createReassembler(timeout = 30_000, maxPending = 64): Reassembler {
  interface Pending { started: number; parts: Map<number, Uint8Array>; total?: number; header?: Uint8Array }
  const pending = new Map<string, Pending>();
  return {
    add(f, now) {
      // A Map keeps insertion order, so the oldest datagrams come first.
      for (const [k, p] of pending) {
        if (now - p.started <= timeout) break;
        pending.delete(k);
      }
      const key = `${formatIPv4(f.source)}>${formatIPv4(f.destination)}/${f.protocol}#${f.id}`;
      let p = pending.get(key);
      if (!p) {
        // Full: the oldest unfinished datagram gives way (most likely one that lost a fragment),
        // rather than every new one being refused until the old ones time out.
        if (pending.size >= maxPending) pending.delete(pending.keys().next().value!);
        p = { started: now, parts: new Map() };
        pending.set(key, p);
      }
      const end = f.fragmentOffset + f.payload.length;
      if (end > 0xffff - f.headerLength || (f.moreFragments && f.payload.length % 8 !== 0)) {
        pending.delete(key);
        return null;
      }
      for (const [off, data] of p.parts) {
        if (f.fragmentOffset < off + data.length && off < end) {
          pending.delete(key);
          return null;
        }
      }
      p.parts.set(f.fragmentOffset, new Uint8Array(f.payload));
      if (f.fragmentOffset === 0) p.header = new Uint8Array(f.packet.subarray(0, f.headerLength));
      if (!f.moreFragments) p.total = end;
      if (p.total === undefined || !p.header) return null;
      let covered = 0;
      for (const [off, data] of [...p.parts].sort((x, y) => x[0] - y[0])) {
        if (off !== covered) return null;
        covered += data.length;
      }
      if (covered !== p.total) return null;
      pending.delete(key);
      const whole = Buffer.alloc(p.header.length + p.total);
      whole.set(p.header);
      for (const [off, data] of p.parts) whole.set(data, p.header.length + off);
      whole.writeUInt16BE(whole.length, 2);
      whole.writeUInt16BE(0, 6);
      whole.writeUInt16BE(0, 10);
      whole.writeUInt16BE(internetChecksum(whole.subarray(0, p.header.length)), 10);
      return parseIPv4Packet(whole);
    },
  };
}
