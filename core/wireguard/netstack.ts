// The virtual IPv4 host on the device's mesh address (what a TUN interface and the kernel's IP
// stack are to wireguard-go): UDP sockets bound on it, ICMP echo answered, fragments reassembled.
// Inner packets for other addresses go to forwarding.ts.
import type { DeviceContext } from './context.js';
import type { Forwarding } from './forwarding.js';
import {
  buildUdpPacket, createReassembler, formatIPv4, icmpEchoReply, parseIPv4, parseIPv4Packet, parseUdp, PROTO_ICMP, PROTO_UDP,
} from './ipv4.js';
import type { Endpoint, Peer } from './peer.js';
import type { Transport } from './transport.js';

export interface UdpSource {
  address: string;
  port: number;
  /** base64 public key of the peer the datagram came through. */
  peer: string;
  /** The outer endpoint the (last fragment of the) datagram arrived from: which path it took. */
  endpoint: Endpoint;
}

export type UdpHandler = (payload: Uint8Array, from: UdpSource) => void;

export interface SendUdpOptions {
  /**
   * Send on this outer endpoint only, in the current session, without changing the peer's path
   * (path probes). Fails (false, counted 'no session') when there is no session yet.
   */
  via?: Endpoint;
}

export interface Netstack {
  deliver(peer: Peer, plaintext: Buffer, from: Endpoint): void;
  bindUdp(port: number, handler: UdpHandler): { close(): void };
  sendUdp(sourcePort: number, destination: string, destinationPort: number, payload: Uint8Array, options?: SendUdpOptions): boolean;
}

export function createNetstack(
  ctx: DeviceContext, deps: { address: string; transport: Transport; forwarding: Forwarding },
): Netstack {
  const { drop, clock } = ctx;
  const { transport, forwarding } = deps;
  const addressBytes = parseIPv4(deps.address);
  if (!addressBytes) throw new Error(`not an IPv4 address: ${JSON.stringify(deps.address)}`);
  const udpHandlers = new Map<number, UdpHandler>();
  const reassembler = createReassembler();
  let lastDestination: { text: string; bytes: Uint8Array } = { text: '', bytes: new Uint8Array(4) };

  function deliver(peer: Peer, plaintext: Buffer, from: Endpoint): void {
    let ip = parseIPv4Packet(plaintext);
    if (!ip) return drop('inner: not a valid IPv4 packet', { peer: peer.id });
    // Cryptokey routing, inbound: a peer may only speak from addresses it owns.
    if (ctx.routes.lookup(ip.source) !== peer) return drop('inner: source not allowed for peer', { peer: peer.id, source: formatIPv4(ip.source) });
    if (Buffer.compare(ip.destination, addressBytes!) !== 0) return forwarding.forward(peer, ip);
    if (ip.fragment) {
      // Stock peers fragment datagrams larger than their MTU (1,400-byte UDP at 1420).
      const whole = reassembler.add(ip, clock.now());
      if (!whole) return;
      ip = whole;
    }
    if (ip.protocol === PROTO_UDP) {
      const udp = parseUdp(ip);
      if (!udp) return drop('inner: bad udp', { peer: peer.id });
      const handler = udpHandlers.get(udp.destinationPort);
      if (!handler) return drop('inner: udp port closed', { port: udp.destinationPort });
      handler(udp.payload, { address: formatIPv4(ip.source), port: udp.sourcePort, peer: peer.id, endpoint: from });
    } else if (ip.protocol === PROTO_ICMP) {
      const reply = icmpEchoReply(ip);
      if (!reply) return drop('inner: icmp not an echo request', { peer: peer.id });
      transport.sendPacket(reply);
    } else {
      drop('inner: protocol not carried', { protocol: ip.protocol });
    }
  }

  return {
    deliver,
    bindUdp(p, handler) {
      if (!Number.isInteger(p) || p < 1 || p > 65535) throw new RangeError(`bad UDP port ${p}`);
      if (udpHandlers.has(p)) throw new Error(`UDP port ${p} is already bound on ${deps.address}`);
      udpHandlers.set(p, handler);
      return { close: () => { if (udpHandlers.get(p) === handler) udpHandlers.delete(p); } };
    },
    sendUdp(sourcePort, destination, destinationPort, payload, options) {
      // Streams go to one address after another: parsing its text each time was 6% of a send.
      if (destination !== lastDestination.text) {
        const bytes = parseIPv4(destination);
        if (!bytes) throw new Error(`not an IPv4 address: ${JSON.stringify(destination)}`);
        lastDestination = { text: destination, bytes };
      }
      const dst = lastDestination.bytes;
      const packet = buildUdpPacket(addressBytes, dst, sourcePort, destinationPort, payload, transport.allocPacket);
      return options?.via ? transport.sendPacketVia(packet, options.via) : transport.sendPacket(packet);
    },
  };
}
