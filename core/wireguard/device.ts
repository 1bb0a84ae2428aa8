// A userspace WireGuard device: one UDP socket, a set of peers, cryptokey routing, and a small
// virtual IPv4 host on the mesh address (UDP sockets and ICMP echo) for the layers above. The
// message handling follows wireguard-go's receive.go/send.go, run inline on Node's event loop.
import { createDecipheriv, createCipheriv } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { createAllowedIps, formatPrefix, parsePrefix, type Prefix } from './allowed-ips.js';
import { systemClock, type Clock } from './clock.js';
import {
  DEFAULT_MTU, DEFAULT_TIMINGS, HANDSHAKE_INITIATION_RATE, MAX_STAGED_PACKETS, PADDING_MULTIPLE, type ProtocolTimings,
} from './constants.js';
import {
  addMacs, checkMac1, checkMac2, consumeCookieReply, createCookieChecker, createCookieGenerator, createCookieReply,
} from './cookie.js';
import { TAG_LEN, wipe } from './crypto.js';
import {
  buildUdpPacket, createReassembler, formatIPv4, fragmentIPv4, icmpEchoReply, internetChecksum, parseIPv4, parseIPv4Packet,
  parseUdp, PROTO_ICMP, PROTO_UDP, type IPv4Packet,
} from './ipv4.js';
import { dh, formatKey, keyPairFromPrivate, parseKey, publicKeyObject } from '../keys/index.js';
import {
  decodeCookieReply, decodeResponse, decodeTransportHeader, messageType, MESSAGE_COOKIE_REPLY, MESSAGE_INITIATION,
  MESSAGE_RESPONSE, MESSAGE_TRANSPORT, TRANSPORT_HEADER_SIZE, writeTransportHeader,
} from './messages.js';
import {
  clearHandshake, consumeInitiation, consumeResponse, createInitiation, createResponse, deriveTransportKeys,
  zeroHandshake, type LocalIdentity,
} from './noise.js';
import {
  confirmKeypair, dropKeypairs, formatEndpoint, installKeypair, newCounters, sameEndpoint,
  type Endpoint, type Keypair, type Peer, type PeerCounters, type PeerState,
} from './peer.js';
import { createReplayFilter, validateCounter } from './replay.js';
import { tai64n, tai64nAfter } from './tai64n.js';
import {
  createPeerTimers, maxTimerHandshakes, stopTimers, timersAnyAuthenticatedPacketReceived,
  timersAnyAuthenticatedPacketSent, timersAnyAuthenticatedPacketTraversal, timersDataReceived, timersDataSent,
  timersHandshakeComplete, timersHandshakeInitiated, timersHandshakeRetryHeld, timersSessionDerived,
} from './timers.js';

export type { Endpoint, PeerState } from './peer.js';

/** The subset of pino the device logs through. Public keys may appear; secrets never do. */
export interface Logger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

const silentLogger: Logger = { debug() {}, info() {}, warn() {} };

export interface DeviceOptions {
  /** base64 (as in wg-quick files) or 32 raw bytes. */
  privateKey: string | Uint8Array;
  /** UDP port of the real socket; 0 or absent picks a free one (see `device.port`). */
  listenPort?: number;
  /** Host address the real socket binds to; all IPv4 addresses by default. */
  bindAddress?: string;
  /** This node's virtual IPv4 address on the mesh. */
  address: string;
  clock?: Clock;
  logger?: Logger;
  /** Shorter protocol times, for tests and demonstrations; the whitepaper's by default. */
  timings?: Partial<ProtocolTimings>;
  /**
   * Handshake messages per second above which the device is "under load" and answers handshakes
   * without a valid mac2 with a cookie reply. 0 means always (tests); the default is 64.
   */
  cookieThreshold?: number;
  mtu?: number;
  /**
   * Forward inner packets addressed to other mesh addresses to the peer whose AllowedIPs hold
   * them (a hub's classic routing), instead of dropping them. Off by default: an endpoint is a
   * host, not a router.
   */
  forwarding?: boolean;
  /**
   * Receive buffer of the real UDP socket in bytes; 4 MiB by default (wireguard-go uses several
   * MiB too). The kernel's default (about 208 KiB) loses a burst of a few hundred datagrams.
   * Linux caps it at net.core.rmem_max.
   */
  recvBufferSize?: number;
}

export interface PeerConfig {
  publicKey: string | Uint8Array;
  presharedKey?: string | Uint8Array;
  allowedIPs: string[];
  /** "a.b.c.d:port" or an Endpoint; may be learnt later from the peer's first authenticated packet. */
  endpoint?: string | Endpoint;
  /** Seconds; 0 or absent is off. */
  persistentKeepalive?: number;
}

export interface UdpSource {
  address: string;
  port: number;
  /** base64 public key of the peer the datagram came through. */
  peer: string;
}

export type UdpHandler = (payload: Uint8Array, from: UdpSource) => void;

export interface PeerStats extends PeerCounters {
  publicKey: string;
  endpoint?: string;
  allowedIPs: string[];
  state: PeerState;
  /** Epoch ms of the last completed handshake. */
  lastHandshake?: number;
  persistentKeepalive: number;
}

export interface HandshakeEvent {
  publicKey: string;
  initiator: boolean;
  endpoint?: string;
}

export interface PeerStateEvent {
  publicKey: string;
  state: PeerState;
  reason: string;
}

export interface DropEvent {
  reason: string;
  peer?: string;
}

export interface InnerEvent {
  /** base64 public key of the peer it came from. */
  peer: string;
  /** The decrypted IPv4 packet (padding included), before it is delivered or forwarded. */
  packet: Buffer;
}

export interface DeviceEvents {
  handshake: [HandshakeEvent];
  peer: [PeerStateEvent];
  /** Every discarded datagram or packet, with the reason it is also counted under in stats(). */
  drop: [DropEvent];
  /**
   * Every non-empty packet decrypted from a peer: all this device can read of the traffic it
   * carries (a tap, like tcpdump on a WireGuard interface). Emitted only while listened to.
   */
  inner: [InnerEvent];
}

export interface Device {
  readonly publicKey: string;
  readonly address: string;
  /** The real UDP port in use. */
  readonly port: number;
  addPeer(config: PeerConfig): void;
  /** Removes a peer live: its sessions and routes go, other peers are not touched. */
  removePeer(publicKey: string): boolean;
  setEndpoint(publicKey: string, endpoint: Endpoint | string): void;
  /** Replaces a peer's AllowedIPs live; its sessions are kept. */
  setAllowedIPs(publicKey: string, allowedIPs: string[]): void;
  /** A virtual UDP socket on the mesh address. Throws if the port is taken. */
  bindUdp(port: number, handler: UdpHandler): { close(): void };
  /** Sends a UDP datagram from the mesh address; false when no peer routes `destination`. */
  sendUdp(sourcePort: number, destination: string, destinationPort: number, payload: Uint8Array): boolean;
  /** Sends a whole IPv4 packet into the tunnel by cryptokey routing; false when no peer routes it. */
  sendPacket(packet: Buffer): boolean;
  /**
   * Relays: outer datagrams for peers whose endpoint is `{ relay: id }` go to `send` instead of
   * the socket. The layer above carries them and hands the far side's back to `receiveDatagram`.
   */
  setRelay(id: string, send: ((datagram: Buffer) => void) | undefined): void;
  /** Processes an outer WireGuard datagram as if it had arrived from `from`. */
  receiveDatagram(datagram: Uint8Array, from: Endpoint): void;
  peerStats(publicKey: string): PeerStats | undefined;
  stats(): { port: number; peers: PeerStats[]; drops: Record<string, number>; forwarded: number };
  on<K extends keyof DeviceEvents>(event: K, listener: (...args: DeviceEvents[K]) => void): Device;
  off<K extends keyof DeviceEvents>(event: K, listener: (...args: DeviceEvents[K]) => void): Device;
  once<K extends keyof DeviceEvents>(event: K, listener: (...args: DeviceEvents[K]) => void): Device;
  close(): Promise<void>;
}

type IndexEntry = { peer: Peer; keypair?: Keypair };

function toKey(k: string | Uint8Array, what: string): Uint8Array {
  return typeof k === 'string' ? parseKey(k, what) : k;
}

export function parseEndpoint(text: string): Endpoint {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(text.trim());
  if (!m || !parseIPv4(m[1]) || Number(m[2]) < 1 || Number(m[2]) > 65535) {
    throw new Error(`not an IPv4 endpoint "address:port": ${JSON.stringify(text)}`);
  }
  return { host: m[1], port: Number(m[2]) };
}

/** wireguard-go's calculatePaddingSize: pad to 16 bytes, never beyond the MTU. */
function paddedLength(size: number, mtu: number): number {
  let last = size;
  if (last > mtu) last %= mtu;
  const padded = Math.min(mtu, (last + PADDING_MULTIPLE - 1) & ~(PADDING_MULTIPLE - 1));
  return size + Math.max(0, padded - last);
}

function randomIndex(): number {
  return (Math.random() * 2 ** 32) >>> 0;
}

const DEFAULT_RECV_BUFFER = 4 << 20;

export async function createDevice(options: DeviceOptions): Promise<Device> {
  const clock = options.clock ?? systemClock;
  const log = options.logger ?? silentLogger;
  const timings: ProtocolTimings = { ...DEFAULT_TIMINGS, ...options.timings };
  const cookieThreshold = options.cookieThreshold ?? 64;
  const mtu = options.mtu ?? DEFAULT_MTU;
  const forwarding = options.forwarding ?? false;
  const addressBytes = parseIPv4(options.address);
  if (!addressBytes) throw new Error(`not an IPv4 address: ${JSON.stringify(options.address)}`);
  const secret = toKey(options.privateKey, 'private key');
  const local: LocalIdentity = keyPairFromPrivate(secret);
  const localId = formatKey(local.publicKey);
  const checker = createCookieChecker(local.publicKey);

  const peers = new Map<string, Peer>();
  const indices = new Map<number, IndexEntry>();
  const routes = createAllowedIps<Peer>();
  const udpHandlers = new Map<number, UdpHandler>();
  const relays = new Map<string, (d: Buffer) => void>();
  const drops: Record<string, number> = {};
  const reassembler = createReassembler();
  const events = new EventEmitter();
  let closed = false;
  let forwarded = 0;
  // "Under load": handshake messages counted in one-second buckets.
  let loadBucketStart = 0;
  let loadCount = 0;
  let loadPrevious = 0;

  const socket: Socket = createSocket({ type: 'udp4', recvBufferSize: options.recvBufferSize ?? DEFAULT_RECV_BUFFER });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ port: options.listenPort ?? 0, address: options.bindAddress }, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  socket.on('error', (err) => log.warn({ err: err.message }, 'udp socket error'));
  socket.on('message', (msg, rinfo) => receiveDatagram(msg, { host: rinfo.address, port: rinfo.port }));
  const port = socket.address().port;

  function drop(reason: string, context?: { peer?: string; [detail: string]: unknown }): void {
    drops[reason] = (drops[reason] ?? 0) + 1;
    log.debug({ reason, ...context }, 'dropped');
    events.emit('drop', { reason, peer: context?.peer });
  }

  function setState(peer: Peer, state: PeerState, reason: string): void {
    if (peer.state === state) return;
    peer.state = state;
    events.emit('peer', { publicKey: peer.id, state, reason });
  }

  function allocateIndex(entry: IndexEntry): number {
    let i = randomIndex();
    while (indices.has(i)) i = randomIndex();
    indices.set(i, entry);
    return i;
  }

  function freeKeypairs(list: (Keypair | undefined)[]): void {
    for (const k of list) if (k && indices.get(k.localIndex)?.keypair === k) indices.delete(k.localIndex);
  }

  function sourceBytes(from: Endpoint): Uint8Array {
    if ('relay' in from) return Buffer.from(`relay:${from.relay}`);
    const b = Buffer.alloc(6);
    b.set(parseIPv4(from.host) ?? [], 0);
    b.writeUInt16BE(from.port, 4);
    return b;
  }

  function underLoad(): boolean {
    if (cookieThreshold === 0) return true;
    const now = clock.now();
    if (now - loadBucketStart >= 1000) {
      loadPrevious = now - loadBucketStart >= 2000 ? 0 : loadCount;
      loadBucketStart = now;
      loadCount = 0;
    }
    loadCount++;
    return loadCount > cookieThreshold || loadPrevious > cookieThreshold;
  }

  function sendTo(peer: Peer, datagram: Buffer): boolean {
    const ep = peer.endpoint;
    if (!ep) {
      drop('no endpoint', { peer: peer.id });
      return false;
    }
    if ('relay' in ep) {
      const relay = relays.get(ep.relay);
      if (!relay) {
        drop('no relay', { peer: peer.id, relay: ep.relay });
        return false;
      }
      relay(datagram);
    } else {
      socket.send(datagram, ep.port, ep.host, (err) => { if (err) drop('send failed', { peer: peer.id, err: err.message }); });
    }
    peer.counters.txBytes += datagram.length;
    return true;
  }

  function sendRaw(to: Endpoint, datagram: Buffer): void {
    if ('relay' in to) relays.get(to.relay)?.(datagram);
    else socket.send(datagram, to.port, to.host);
  }

  // ---- handshakes -------------------------------------------------------------------------

  function sendInitiation(peer: Peer, retry: boolean): void {
    if (closed) return;
    if (!retry) peer.timers.handshakeAttempts = 0;
    const now = clock.now();
    if (now - peer.lastSentHandshake < timings.rekeyTimeout) {
      if (retry) timersHandshakeRetryHeld(peer.timers, peer.lastSentHandshake + timings.rekeyTimeout - now);
      return;
    }
    peer.lastSentHandshake = now;
    if (peer.handshake.localIndex) indices.delete(peer.handshake.localIndex);
    const localIndex = allocateIndex({ peer });
    const { message, handshake } = createInitiation(local, peer.publicKey, peer.staticStatic, localIndex, tai64n(clock.wallTime()));
    clearHandshake(peer.handshake);
    peer.handshake = handshake;
    addMacs(peer.cookie, message, now, timings.cookieRefreshTime);
    timersAnyAuthenticatedPacketTraversal(peer.timers);
    timersAnyAuthenticatedPacketSent(peer.timers);
    peer.counters.initiationsSent++;
    if (peer.state !== 'up') setState(peer, 'handshaking', retry ? 'retrying handshake' : 'initiating handshake');
    log.debug({ peer: peer.id, retry }, 'sending handshake initiation');
    sendTo(peer, message);
    timersHandshakeInitiated(peer.timers, timings);
  }

  function handshakeCompleted(peer: Peer, initiator: boolean): void {
    timersHandshakeComplete(peer.timers);
    peer.lastHandshakeWallTime = clock.wallTime();
    peer.counters.handshakes++;
    setState(peer, 'up', 'handshake completed');
    const endpoint = formatEndpoint(peer.endpoint);
    log.info({ peer: peer.id, initiator, endpoint }, 'handshake completed');
    events.emit('handshake', { publicKey: peer.id, initiator, endpoint });
  }

  function beginSession(peer: Peer): void {
    const keys = deriveTransportKeys(peer.handshake);
    const keypair: Keypair = {
      sendKey: keys.send, receiveKey: keys.receive, sendNonce: 0, replay: createReplayFilter(),
      created: clock.now(), initiator: keys.initiator, localIndex: keys.localIndex, remoteIndex: keys.remoteIndex,
    };
    // The handshake's index now names the session.
    indices.set(keypair.localIndex, { peer, keypair });
    freeKeypairs(installKeypair(peer, keypair));
    timersSessionDerived(peer.timers, timings);
  }

  function handleInitiation(d: Uint8Array, from: Endpoint): void {
    const result = consumeInitiation(local, d, (pub) => {
      const peer = peers.get(formatKey(pub));
      return peer && { peer, staticStatic: peer.staticStatic };
    });
    if (typeof result === 'string') return drop(`initiation: ${result}`, { from: formatEndpoint(from) });
    const peer = result.peer;
    const now = clock.now();
    if (peer.latestTimestamp && !tai64nAfter(result.timestamp, peer.latestTimestamp)) {
      return drop('initiation: replayed timestamp', { peer: peer.id });
    }
    if (now - peer.lastInitiationConsumed < HANDSHAKE_INITIATION_RATE) return drop('initiation: flood', { peer: peer.id });
    peer.latestTimestamp = result.timestamp;
    peer.lastInitiationConsumed = now;
    if (peer.handshake.localIndex) indices.delete(peer.handshake.localIndex);
    clearHandshake(peer.handshake);
    peer.handshake = result.handshake;

    timersAnyAuthenticatedPacketTraversal(peer.timers);
    timersAnyAuthenticatedPacketReceived(peer.timers);
    peer.endpoint = from;

    // Answer it (wireguard-go's SendHandshakeResponse).
    peer.lastSentHandshake = now;
    const localIndex = allocateIndex({ peer });
    const response = createResponse(peer.handshake, peer.publicKey, peer.presharedKey, localIndex);
    addMacs(peer.cookie, response, now, timings.cookieRefreshTime);
    beginSession(peer);
    timersAnyAuthenticatedPacketTraversal(peer.timers);
    timersAnyAuthenticatedPacketSent(peer.timers);
    log.debug({ peer: peer.id, endpoint: formatEndpoint(from) }, 'answering handshake initiation');
    sendTo(peer, response);
  }

  function handleResponse(d: Uint8Array, from: Endpoint): void {
    const entry = indices.get(decodeResponse(d).receiver);
    if (!entry || entry.keypair) return drop('response: unknown index');
    const peer = entry.peer;
    if (!consumeResponse(peer.handshake, local, d, peer.presharedKey)) return drop('response: does not authenticate', { peer: peer.id });
    peer.endpoint = from;
    timersAnyAuthenticatedPacketTraversal(peer.timers);
    timersAnyAuthenticatedPacketReceived(peer.timers);
    beginSession(peer);
    handshakeCompleted(peer, true);
    // Confirms the session to the responder, which waits for a packet under it.
    sendKeepalive(peer);
  }

  function handleCookieReply(d: Uint8Array): void {
    // The index is that of our initiation, or of our response (already a session's then).
    const entry = indices.get(decodeCookieReply(d).receiver);
    if (!entry) return drop('cookie reply: unknown index');
    if (!consumeCookieReply(entry.peer.cookie, d, clock.now())) return drop('cookie reply: does not authenticate');
    entry.peer.counters.cookiesReceived++;
    log.info({ peer: entry.peer.id }, 'cookie reply received');
  }

  // ---- transport ----------------------------------------------------------------------------

  function keypairUsable(k: Keypair | undefined): k is Keypair {
    return !!k && k.sendNonce < timings.rejectAfterMessages && clock.now() - k.created < timings.rejectAfterTime;
  }

  function encrypt(k: Keypair, plaintext: Buffer): Buffer {
    const counter = k.sendNonce++;
    const padded = plaintext.length === 0 ? 0 : paddedLength(plaintext.length, mtu);
    const out = Buffer.allocUnsafe(TRANSPORT_HEADER_SIZE + padded + TAG_LEN);
    writeTransportHeader(out, k.remoteIndex, counter);
    const nonce = Buffer.alloc(12);
    out.copy(nonce, 4, 8, 16);
    const c = createCipheriv('chacha20-poly1305', k.sendKey, nonce, { authTagLength: TAG_LEN });
    let body = plaintext;
    if (padded !== plaintext.length) {
      body = Buffer.alloc(padded);
      plaintext.copy(body);
    }
    c.update(body).copy(out, TRANSPORT_HEADER_SIZE);
    c.final();
    c.getAuthTag().copy(out, TRANSPORT_HEADER_SIZE + padded);
    return out;
  }

  function sendStaged(peer: Peer): void {
    if (closed) return;
    const k = peer.keypairs.current;
    if (!keypairUsable(k)) {
      sendInitiation(peer, false);
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
      if (!sendTo(peer, datagram)) continue;
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
      sendInitiation(peer, false);
    }
    if (peer.staged.length > 0) sendInitiation(peer, false);
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

  function handleTransport(d: Uint8Array, from: Endpoint): void {
    const header = decodeTransportHeader(d);
    const entry = indices.get(header.receiver);
    const k = entry?.keypair;
    if (!entry || !k) return drop('transport: unknown index');
    const peer = entry.peer;
    if (clock.now() - k.created >= timings.rejectAfterTime) return drop('transport: session expired', { peer: peer.id });

    const nonce = Buffer.alloc(12);
    nonce.set(header.counterBytes, 4);
    const decipher = createDecipheriv('chacha20-poly1305', k.receiveKey, nonce, { authTagLength: TAG_LEN });
    decipher.setAuthTag(d.subarray(d.length - TAG_LEN));
    const plaintext = decipher.update(d.subarray(TRANSPORT_HEADER_SIZE, d.length - TAG_LEN));
    try {
      decipher.final();
    } catch {
      return drop('transport: does not authenticate', { peer: peer.id });
    }
    if (!validateCounter(k.replay, header.counter, timings.rejectAfterMessages)) return drop('transport: replayed', { peer: peer.id });

    if (!sameEndpoint(peer.endpoint, from)) {
      log.info({ peer: peer.id, endpoint: formatEndpoint(from) }, 'peer roamed');
      peer.endpoint = from;
    }
    peer.counters.rxBytes += d.length;
    // keepKeyFreshReceiving: if our own session is about to expire, start the next one now.
    const cur = peer.keypairs.current;
    if (!peer.timers.sentLastMinuteHandshake && cur?.initiator
      && clock.now() - cur.created > timings.rejectAfterTime - timings.keepaliveTimeout - timings.rekeyTimeout) {
      peer.timers.sentLastMinuteHandshake = true;
      sendInitiation(peer, false);
    }
    timersAnyAuthenticatedPacketTraversal(peer.timers);
    timersAnyAuthenticatedPacketReceived(peer.timers);
    if (peer.keypairs.next === k) {
      freeKeypairs([confirmKeypair(peer, k)]);
      handshakeCompleted(peer, false);
      sendStaged(peer);
    }
    if (plaintext.length === 0) {
      peer.counters.keepalivesReceived++;
      return;
    }
    timersDataReceived(peer.timers, timings);
    peer.counters.rxPackets++;
    if (events.listenerCount('inner') > 0) events.emit('inner', { peer: peer.id, packet: plaintext });
    deliver(peer, plaintext);
  }

  // ---- the virtual host on the mesh address ---------------------------------------------------

  function deliver(peer: Peer, plaintext: Buffer): void {
    let ip = parseIPv4Packet(plaintext);
    if (!ip) return drop('inner: not a valid IPv4 packet', { peer: peer.id });
    // Cryptokey routing, inbound: a peer may only speak from addresses it owns.
    if (routes.lookup(ip.source) !== peer) return drop('inner: source not allowed for peer', { peer: peer.id, source: formatIPv4(ip.source) });
    if (Buffer.compare(ip.destination, addressBytes!) !== 0) return forward(peer, ip);
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
      handler(udp.payload, { address: formatIPv4(ip.source), port: udp.sourcePort, peer: peer.id });
    } else if (ip.protocol === PROTO_ICMP) {
      const reply = icmpEchoReply(ip);
      if (!reply) return drop('inner: icmp not an echo request', { peer: peer.id });
      sendPacket(reply);
    } else {
      drop('inner: protocol not carried', { protocol: ip.protocol });
    }
  }

  /**
   * Classic routing (a hub): the packet goes on, whole or as the fragment it is, to the peer whose
   * AllowedIPs hold its destination, with its TTL one lower, as an IP router would send it.
   */
  function forward(from: Peer, ip: IPv4Packet): void {
    if (!forwarding) return drop('inner: not for this address', { peer: from.id });
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
    for (const fragment of fragmentIPv4(out, mtu)) stage(to, fragment);
    sendStaged(to);
  }

  function sendPacket(packet: Buffer): boolean {
    if (closed) return false;
    if (packet.length < 20) return false;
    const peer = routes.lookup(packet.subarray(16, 20));
    if (!peer) {
      drop('no route', { destination: formatIPv4(packet.subarray(16, 20)) });
      return false;
    }
    for (const fragment of fragmentIPv4(packet, mtu)) stage(peer, fragment);
    sendStaged(peer);
    return true;
  }

  function receiveDatagram(d: Uint8Array, from: Endpoint): void {
    if (closed) return;
    const type = messageType(d);
    switch (type) {
      case MESSAGE_INITIATION:
      case MESSAGE_RESPONSE: {
        if (!checkMac1(checker, d)) return drop('handshake: bad mac1', { from: formatEndpoint(from) });
        const source = sourceBytes(from);
        if (underLoad() && !checkMac2(checker, d, source, clock.now(), timings.cookieRefreshTime)) {
          const sender = new DataView(d.buffer, d.byteOffset + 4, 4).getUint32(0, true);
          sendRaw(from, createCookieReply(checker, d, sender, source, clock.now(), timings.cookieRefreshTime));
          log.info({ from: formatEndpoint(from) }, 'under load: cookie reply sent');
          return drop('handshake: cookie required');
        }
        return type === MESSAGE_INITIATION ? handleInitiation(d, from) : handleResponse(d, from);
      }
      case MESSAGE_COOKIE_REPLY:
        return handleCookieReply(d);
      case MESSAGE_TRANSPORT:
        return handleTransport(d, from);
      default:
        return drop('not a wireguard message');
    }
  }

  // ---- peers --------------------------------------------------------------------------------

  function zeroKeyMaterial(peer: Peer): void {
    freeKeypairs(dropKeypairs(peer));
    if (peer.handshake.localIndex) indices.delete(peer.handshake.localIndex);
    clearHandshake(peer.handshake);
    setState(peer, 'down', 'keys zeroed');
  }

  function addPeer(config: PeerConfig): void {
    const publicKey = toKey(config.publicKey, 'peer public key');
    const id = formatKey(publicKey);
    if (peers.has(id)) throw new Error(`peer ${id} already exists`);
    if (id === localId) throw new Error('a peer cannot have this device\'s own public key');
    const staticStatic = dh(local.privateKey, publicKeyObject(publicKey));
    if (!staticStatic) throw new Error(`peer ${id}: public key is of low order`);
    const prefixes: Prefix[] = config.allowedIPs.map(parsePrefix);
    const endpoint = typeof config.endpoint === 'string' ? parseEndpoint(config.endpoint) : config.endpoint;
    const keepalive = (config.persistentKeepalive ?? 0) * 1000;
    if (!Number.isInteger(config.persistentKeepalive ?? 0) || keepalive < 0 || keepalive > 65535_000) {
      throw new Error(`peer ${id}: persistent keepalive must be 0..65535 seconds`);
    }
    const peer: Peer = {
      id, publicKey, staticStatic, endpoint,
      presharedKey: config.presharedKey === undefined ? undefined : toKey(config.presharedKey, 'preshared key'),
      handshake: zeroHandshake(),
      lastSentHandshake: -Infinity,
      lastInitiationConsumed: -Infinity,
      keypairs: {},
      cookie: createCookieGenerator(publicKey),
      staged: [],
      timers: createPeerTimers(clock, {
        retransmitHandshake: () => retransmitHandshake(peer),
        sendKeepalive: () => {
          sendKeepalive(peer);
          if (peer.timers.needAnotherKeepalive) {
            peer.timers.needAnotherKeepalive = false;
            peer.timers.sendKeepalive.mod(timings.keepaliveTimeout);
          }
        },
        newHandshake: () => {
          log.debug({ peer: peer.id }, 'no reply to data: new handshake');
          sendInitiation(peer, false);
        },
        zeroKeyMaterial: () => zeroKeyMaterial(peer),
        persistentKeepalive: () => { if (peer.timers.persistentKeepaliveInterval > 0) sendKeepalive(peer); },
      }, keepalive),
      state: 'idle',
      counters: newCounters(),
    };
    peers.set(id, peer);
    for (const p of prefixes) routes.insert(p, peer);
    log.info({ peer: id, allowedIPs: prefixes.map(formatPrefix), endpoint: formatEndpoint(endpoint) }, 'peer added');
    // As wireguard-go: a persistent keepalive starts at once, which brings the session up.
    if (keepalive > 0 && endpoint) sendKeepalive(peer);
  }

  function retransmitHandshake(peer: Peer): void {
    if (peer.timers.handshakeAttempts > maxTimerHandshakes(timings)) {
      log.info({ peer: peer.id, attempts: peer.timers.handshakeAttempts + 1 }, 'handshake did not complete: giving up');
      peer.timers.sendKeepalive.del();
      if (peer.staged.length) drop('handshake gave up', { peer: peer.id, packets: peer.staged.length });
      peer.staged = [];
      if (!peer.timers.zeroKeyMaterial.pending) peer.timers.zeroKeyMaterial.mod(timings.rejectAfterTime * 3);
      setState(peer, 'down', 'handshake gave up');
      return;
    }
    peer.timers.handshakeAttempts++;
    log.debug({ peer: peer.id, attempt: peer.timers.handshakeAttempts }, 'handshake did not complete: retrying');
    sendInitiation(peer, true);
  }

  function removePeer(publicKey: string): boolean {
    const peer = peers.get(publicKey);
    if (!peer) return false;
    stopTimers(peer.timers);
    freeKeypairs(dropKeypairs(peer));
    if (peer.handshake.localIndex) indices.delete(peer.handshake.localIndex);
    clearHandshake(peer.handshake);
    wipe(peer.staticStatic, peer.presharedKey);
    routes.removeValue(peer);
    peers.delete(publicKey);
    log.info({ peer: publicKey }, 'peer removed');
    return true;
  }

  function peerStats(id: string): PeerStats | undefined {
    const p = peers.get(id);
    if (!p) return undefined;
    return {
      publicKey: p.id,
      endpoint: formatEndpoint(p.endpoint),
      allowedIPs: routes.prefixesOf(p).map(formatPrefix),
      state: p.state,
      lastHandshake: p.lastHandshakeWallTime,
      persistentKeepalive: p.timers.persistentKeepaliveInterval / 1000,
      ...p.counters,
    };
  }

  const device: Device = {
    publicKey: localId,
    address: options.address,
    port,
    addPeer,
    removePeer,
    setEndpoint(id, endpoint) {
      const peer = peers.get(id);
      if (!peer) throw new Error(`no peer ${id}`);
      peer.endpoint = typeof endpoint === 'string' ? parseEndpoint(endpoint) : endpoint;
    },
    setAllowedIPs(id, allowedIPs) {
      const peer = peers.get(id);
      if (!peer) throw new Error(`no peer ${id}`);
      const prefixes = allowedIPs.map(parsePrefix);
      routes.removeValue(peer);
      for (const p of prefixes) routes.insert(p, peer);
    },
    bindUdp(p, handler) {
      if (!Number.isInteger(p) || p < 1 || p > 65535) throw new RangeError(`bad UDP port ${p}`);
      if (udpHandlers.has(p)) throw new Error(`UDP port ${p} is already bound on ${options.address}`);
      udpHandlers.set(p, handler);
      return { close: () => { if (udpHandlers.get(p) === handler) udpHandlers.delete(p); } };
    },
    sendUdp(sourcePort, destination, destinationPort, payload) {
      const dst = parseIPv4(destination);
      if (!dst) throw new Error(`not an IPv4 address: ${JSON.stringify(destination)}`);
      return sendPacket(buildUdpPacket(addressBytes, dst, sourcePort, destinationPort, payload));
    },
    sendPacket,
    setRelay(id, send) {
      if (send) relays.set(id, send);
      else relays.delete(id);
    },
    receiveDatagram,
    peerStats,
    stats: () => ({ port, peers: [...peers.keys()].map((id) => peerStats(id)!), drops: { ...drops }, forwarded }),
    on(event, listener) { events.on(event, listener); return device; },
    off(event, listener) { events.off(event, listener); return device; },
    once(event, listener) { events.once(event, listener); return device; },
    async close() {
      if (closed) return;
      closed = true;
      for (const id of [...peers.keys()]) removePeer(id);
      await new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
  return device;
}
