// Transport data (wireguard-go's send.go/receive.go for MessageTransport): packets staged per
// peer until a session exists, encrypted with padding, sent on the peer's path; received ones
// decrypted, checked against the replay window and handed to the virtual host.
import { NONCE_LEN, TAG_LEN } from './aead.js';
import { MAX_STAGED_PACKETS, PADDING_MULTIPLE } from './constants.js';
import type { DeviceContext } from './context.js';
import type { Handshakes } from './handshake.js';
import { formatIPv4, fragmentIPv4 } from './ipv4.js';
import { decodeTransportHeader, TRANSPORT_HEADER_SIZE, writeTransportHeader } from './messages.js';
import type { Paths } from './paths.js';
import { confirmKeypair, type Endpoint, type Keypair, type Peer } from './peer.js';
import { validateCounter } from './replay.js';
import {
  timersAnyAuthenticatedPacketReceived, timersAnyAuthenticatedPacketSent, timersAnyAuthenticatedPacketTraversal,
  timersDataReceived, timersDataSent,
} from './timers.js';

export interface Transport {
  /** Queues an inner packet for `peer` (oldest dropped beyond MAX_STAGED_PACKETS). */
  stage(peer: Peer, packet: Buffer): void;
  /** Sends what is staged, or starts a handshake when there is no usable session. */
  sendStaged(peer: Peer): void;
  sendKeepalive(peer: Peer): void;
  /** Sends a whole IPv4 packet by cryptokey routing; false when no peer routes it. */
  sendPacket(packet: Buffer): boolean;
  /**
   * Sends an IPv4 packet to its peer in the current session, to the endpoint `via` only. Not
   * staged, no handshake started, no timers touched: false (counted 'no session') without one.
   */
  sendPacketVia(packet: Buffer, via: Endpoint): boolean;
  receive(d: Uint8Array, from: Endpoint): void;
  /**
   * A buffer for a new inner packet of `length` bytes with room around it for the transport
   * header, padding and tag, so sending seals it where it lies: no second buffer, no copy.
   * The packet is consumed by sending it (sealed in place); send it once.
   */
  allocPacket(length: number): Buffer;
}

export interface TransportDeps {
  paths: Paths;
  handshakes: Pick<Handshakes, 'sendInitiation' | 'completed'>;
  /** The virtual host takes a decrypted, non-empty packet. */
  deliver(peer: Peer, plaintext: Buffer, from: Endpoint): void;
}

/** wireguard-go's calculatePaddingSize: pad to 16 bytes, never beyond the MTU. */
function paddedLength(size: number, mtu: number): number {
  let last = size;
  if (last > mtu) last %= mtu;
  const padded = Math.min(mtu, (last + PADDING_MULTIPLE - 1) & ~(PADDING_MULTIPLE - 1));
  return size + Math.max(0, padded - last);
}

export function createTransport(ctx: DeviceContext, deps: TransportDeps): Transport {
  const { clock, timings, mtu, drop } = ctx;
  const { paths, handshakes } = deps;

  function keypairUsable(k: Keypair | undefined): k is Keypair {
    return !!k && k.sendNonce < timings.rejectAfterMessages && clock.now() - k.created < timings.rejectAfterTime;
  }

  // One nonce buffer for every packet: sealing and opening are synchronous, so it is never shared.
  const nonce = Buffer.alloc(NONCE_LEN);

  /** The transport datagram for `plaintext`: header, then the padded plaintext sealed in place. */
  // Packets made by allocPacket, not yet sent: they have room to be sealed in place.
  const withRoom = new WeakSet<Buffer>();

  function allocPacket(length: number): Buffer {
    const whole = Buffer.allocUnsafe(TRANSPORT_HEADER_SIZE + paddedLength(length, mtu) + TAG_LEN);
    const packet = whole.subarray(TRANSPORT_HEADER_SIZE, TRANSPORT_HEADER_SIZE + length);
    withRoom.add(packet);
    return packet;
  }

  function encrypt(k: Keypair, plaintext: Buffer): Buffer {
    const counter = k.sendNonce++;
    const padded = plaintext.length === 0 ? 0 : paddedLength(plaintext.length, mtu);
    let out: Buffer;
    if (withRoom.delete(plaintext)) {
      out = Buffer.from(plaintext.buffer, plaintext.byteOffset - TRANSPORT_HEADER_SIZE, TRANSPORT_HEADER_SIZE + padded + TAG_LEN);
    } else {
      out = Buffer.allocUnsafe(TRANSPORT_HEADER_SIZE + padded + TAG_LEN);
      plaintext.copy(out, TRANSPORT_HEADER_SIZE);
    }
    writeTransportHeader(out, k.remoteIndex, counter);
    out.fill(0, TRANSPORT_HEADER_SIZE + plaintext.length, TRANSPORT_HEADER_SIZE + padded);
    out.copy(nonce, 4, 8, 16);
    ctx.aead.sealInPlace(k.sendKey, nonce, out.subarray(TRANSPORT_HEADER_SIZE));
    return out;
  }

  function sendStaged(peer: Peer): void {
    if (ctx.isClosed()) return;
    const k = peer.keypairs.current;
    if (!keypairUsable(k)) {
      handshakes.sendInitiation(peer, false);
      return;
    }
    const batch = peer.staged;
    peer.staged = [];
    let dataSent = false;
    for (const packet of batch) {
      if (!keypairUsable(k)) {
        peer.staged.push(packet);
        continue;
      }
      const datagram = encrypt(k, packet);
      if (!paths.transmit(peer, datagram)) continue;
      timersAnyAuthenticatedPacketTraversal(peer.timers);
      timersAnyAuthenticatedPacketSent(peer.timers);
      if (packet.length === 0) {
        peer.counters.keepalivesSent++;
      } else {
        peer.counters.txPackets++;
        dataSent = true;
      }
    }
    if (dataSent) timersDataSent(peer.timers, timings);
    // keepKeyFreshSending: the initiator of a session rekeys it before it gets old.
    if (k.sendNonce > timings.rekeyAfterMessages || (k.initiator && clock.now() - k.created > timings.rekeyAfterTime)) {
      handshakes.sendInitiation(peer, false);
    }
    if (peer.staged.length > 0) handshakes.sendInitiation(peer, false);
  }

  function stage(peer: Peer, packet: Buffer): void {
    if (peer.staged.length >= MAX_STAGED_PACKETS) {
      peer.staged.shift();
      drop('staged queue full', { peer: peer.id });
    }
    peer.staged.push(packet);
  }

  function sendKeepalive(peer: Peer): void {
    if (peer.staged.length === 0) peer.staged.push(Buffer.alloc(0));
    sendStaged(peer);
  }

  function routeOf(packet: Buffer): Peer | undefined {
    const peer = packet.length < 20 ? undefined : ctx.routes.lookup(packet.subarray(16, 20));
    if (!peer && packet.length >= 20) drop('no route', { destination: formatIPv4(packet.subarray(16, 20)) });
    return peer;
  }

  function sendPacket(packet: Buffer): boolean {
    if (ctx.isClosed()) return false;
    const peer = routeOf(packet);
    if (!peer) return false;
    for (const fragment of fragmentIPv4(packet, mtu)) stage(peer, fragment);
    sendStaged(peer);
    return true;
  }

  function sendPacketVia(packet: Buffer, via: Endpoint): boolean {
    if (ctx.isClosed()) return false;
    const peer = routeOf(packet);
    if (!peer) return false;
    const k = peer.keypairs.current;
    if (!keypairUsable(k)) {
      drop('no session', { peer: peer.id });
      return false;
    }
    let sent = true;
    for (const fragment of fragmentIPv4(packet, mtu)) sent = paths.transmitVia(peer, via, encrypt(k, fragment)) && sent;
    if (sent) peer.counters.txPackets++;
    return sent;
  }

  function receive(d: Uint8Array, from: Endpoint): void {
    const header = decodeTransportHeader(d);
    const entry = ctx.indices.get(header.receiver);
    const k = entry?.keypair;
    if (!entry || !k) return drop('transport: unknown index');
    const peer = entry.peer;
    if (clock.now() - k.created >= timings.rejectAfterTime) return drop('transport: session expired', { peer: peer.id });

    nonce.set(header.counterBytes, 4);
    // Opened in place: the plaintext is the datagram's own memory, nothing is copied.
    const plaintext = ctx.aead.openInPlace(k.receiveKey, nonce, d.subarray(TRANSPORT_HEADER_SIZE));
    if (!plaintext) return drop('transport: does not authenticate', { peer: peer.id });
    if (!validateCounter(k.replay, header.counter, timings.rejectAfterMessages)) return drop('transport: replayed', { peer: peer.id });

    paths.authenticated(peer, from, plaintext.length === 0 ? 'keepalive' : 'data');
    peer.counters.rxBytes += d.length;
    // keepKeyFreshReceiving: if our own session is about to expire, start the next one now.
    const cur = peer.keypairs.current;
    if (!peer.timers.sentLastMinuteHandshake && cur?.initiator
      && clock.now() - cur.created > timings.rejectAfterTime - timings.keepaliveTimeout - timings.rekeyTimeout) {
      peer.timers.sentLastMinuteHandshake = true;
      handshakes.sendInitiation(peer, false);
    }
    timersAnyAuthenticatedPacketTraversal(peer.timers);
    timersAnyAuthenticatedPacketReceived(peer.timers);
    if (peer.keypairs.next === k) {
      ctx.indices.freeKeypairs([confirmKeypair(peer, k)]);
      handshakes.completed(peer, false);
      sendStaged(peer);
    }
    if (plaintext.length === 0) {
      peer.counters.keepalivesReceived++;
      return;
    }
    timersDataReceived(peer.timers, timings);
    peer.counters.rxPackets++;
    if (ctx.events.listenerCount('inner') > 0) ctx.events.emit('inner', { peer: peer.id, packet: plaintext });
    deps.deliver(peer, plaintext, from);
  }

  return { stage, sendStaged, sendKeepalive, sendPacket, sendPacketVia, receive, allocPacket };
}
