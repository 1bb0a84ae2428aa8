// A userspace WireGuard device: the composition of its parts, along wireguard-go's seams.
//   bind.ts           the one seam to the network (UDP socket, relays)
//   paths.ts          which endpoint a peer's datagrams take: roaming, or a path owner above
//   index-table.ts    receiver indices → peer / session
//   handshake-queue.ts handshake messages worked off with a budget per event-loop turn
//   handshake-gate.ts mac1, mac2 and cookies, the per-source rate limit (ratelimiter.ts)
//   handshake.ts      initiations, responses, cookie replies (Noise_IKpsk2 in noise.ts)
//   transport.ts      staged packets, encryption, decryption, replay
//   netstack.ts       the virtual IPv4 host on the mesh address (UDP, ICMP echo, reassembly)
//   forwarding.ts     classic hub routing of inner packets
//   load.ts           under-load detection
//   timer-actions.ts  what the per-peer timers do (timers.ts: when)
//   drops.ts          the typed reasons every discarded datagram is counted under
// This file holds the peers, the public API and the dispatch of received datagrams.
import { EventEmitter } from 'node:events';
import { aeadBackend, type AeadName } from './aead.js';
import { createAllowedIps, formatPrefix, parsePrefix, type Prefix } from './allowed-ips.js';
import { openUdpBind, type RelaySend } from './bind.js';
import { systemClock, type Clock } from './clock.js';
import { DEFAULT_MTU, DEFAULT_TIMINGS, type ProtocolTimings } from './constants.js';
import type { AnsweredKey, DeviceContext, Logger } from './context.js';
import { createCookieChecker, createCookieGenerator } from './cookie.js';
import { wipe } from './crypto.js';
import { createDrops, type DropCounts, type DropEvent } from './drops.js';
import { createForwarding } from './forwarding.js';
import { createHandshakeGate } from './handshake-gate.js';
import { createHandshakeQueue } from './handshake-queue.js';
import { createHandshakes } from './handshake.js';
import { createIndexTable } from './index-table.js';
import { parseIPv4 } from './ipv4.js';
import { parseEndpoint } from '../underlay/endpoint.js';
import { dh, formatKey, keyPairFromPrivate, parseKey, publicKeyObject } from '../keys/index.js';
import { createLoadMeter } from './load.js';
import { messageType, MESSAGE_COOKIE_REPLY, MESSAGE_INITIATION, MESSAGE_RESPONSE, MESSAGE_TRANSPORT } from './messages.js';
import { createNetstack, type SendUdpOptions, type UdpHandler } from './netstack.js';
import { zeroHandshake, type LocalIdentity } from './noise.js';
import { createPaths, type PathOwner } from './paths.js';
import { createRateLimiter } from './ratelimiter.js';
import { formatEndpoint, newCounters, type Endpoint, type Peer, type PeerCounters, type PeerState } from './peer.js';
import { createPeerTimers, stopTimers, type PeerTimers } from './timers.js';
import { createTimerActions, zeroKeyMaterial } from './timer-actions.js';
import { createTransport } from './transport.js';

export type { Endpoint, PeerState } from './peer.js';
export type { Logger } from './context.js';
export type { DropReason, DropEvent, DropCounts } from './drops.js';
export type { PathOwner, AuthenticatedKind } from './paths.js';
export type { UdpHandler, UdpSource, SendUdpOptions } from './netstack.js';
export type { RelaySend } from './bind.js';

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
  /**
   * ChaCha20-Poly1305 backend for transport data (aead.ts): 'sodium' (libsodium, the default when
   * its binary loads) or 'node' (node:crypto). Absent: PPN_WG_AEAD, else the default.
   */
  aead?: AeadName;
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

export interface InnerEvent {
  /** base64 public key of the peer it came from. */
  peer: string;
  /** The decrypted IPv4 packet (padding included), before it is delivered or forwarded. */
  packet: Buffer;
}

export interface DeviceEvents {
  handshake: [HandshakeEvent];
  /** A peer's session state: 'up' when a session is confirmed, 'down' when it gave up or keys were zeroed. */
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
  /** This device's own public key (base64); setPrivateKey changes it. */
  readonly publicKey: string;
  readonly address: string;
  /** The real UDP port in use. */
  readonly port: number;
  addPeer(config: PeerConfig): void;
  /** Removes a peer live: its sessions and routes go, other peers are not touched. */
  removePeer(publicKey: string): boolean;
  setEndpoint(publicKey: string, endpoint: Endpoint | string): void;
  /**
   * Makes `privateKey` this device's own key, live (an identity change): handshakes it starts are
   * made with it from now on, sessions already up stay up (their keys do not depend on it), and
   * the key it replaces is still answered, for peers that have not learnt the new one yet, until
   * `stopAnswering` is called for it.
   */
  setPrivateKey(privateKey: string | Uint8Array): void;
  /** Also answers handshakes addressed to `privateKey`'s public key: a key this device is about to take. */
  answerAlso(privateKey: string | Uint8Array): void;
  /** Stops answering the key `publicKey` (base64); false when it is not answered or is the device's own. */
  stopAnswering(publicKey: string): boolean;
  /** The keys answered besides the own one (base64 public keys). */
  answering(): string[];
  /** Replaces a peer's AllowedIPs live; its sessions are kept. */
  setAllowedIPs(publicKey: string, allowedIPs: string[]): void;
  /** A virtual UDP socket on the mesh address. Throws if the port is taken. */
  bindUdp(port: number, handler: UdpHandler): { close(): void };
  /**
   * Sends a UDP datagram from the mesh address; false when no peer routes `destination` (or,
   * with `via`, when the peer has no session yet).
   */
  sendUdp(sourcePort: number, destination: string, destinationPort: number, payload: Uint8Array, options?: SendUdpOptions): boolean;
  /** Sends a whole IPv4 packet into the tunnel by cryptokey routing; false when no peer routes it. */
  sendPacket(packet: Buffer): boolean;
  /**
   * Relays: outer datagrams for endpoints `{ relay: id }` go to `send` instead of the socket.
   * The layer above carries them and hands the far side's back to `receiveDatagram`.
   */
  setRelay(id: string, send: RelaySend | undefined): void;
  /** Processes an outer WireGuard datagram as if it had arrived from `from`. */
  receiveDatagram(datagram: Uint8Array, from: Endpoint): void;
  /**
   * Installs (or with undefined removes) the path owner: the device then stops roaming, reports
   * every authenticated datagram to it and lets it send every datagram (paths.ts).
   */
  setPathOwner(owner: PathOwner | undefined): void;
  /** Sends one outer datagram through the bind, as is: how a path owner sends on its chosen path. */
  sendDatagram(to: Endpoint, datagram: Buffer): boolean;
  peerStats(publicKey: string): PeerStats | undefined;
  stats(): { port: number; peers: PeerStats[]; drops: DropCounts; forwarded: number };
  on<K extends keyof DeviceEvents>(event: K, listener: (...args: DeviceEvents[K]) => void): Device;
  off<K extends keyof DeviceEvents>(event: K, listener: (...args: DeviceEvents[K]) => void): Device;
  once<K extends keyof DeviceEvents>(event: K, listener: (...args: DeviceEvents[K]) => void): Device;
  close(): Promise<void>;
}

function toKey(k: string | Uint8Array, what: string): Uint8Array {
  return typeof k === 'string' ? parseKey(k, what) : k;
}

/** Peers' endpoints are parsed by the house's one endpoint parser (core/underlay). */
export { parseEndpoint };

const DEFAULT_RECV_BUFFER = 4 << 20;

export async function createDevice(options: DeviceOptions): Promise<Device> {
  const log = options.logger ?? silentLogger;
  if (!parseIPv4(options.address)) throw new Error(`not an IPv4 address: ${JSON.stringify(options.address)}`);
  const answeredKey = (secret: Uint8Array): AnsweredKey => {
    const local: LocalIdentity = keyPairFromPrivate(secret);
    return { local, id: formatKey(local.publicKey), checker: createCookieChecker(local.publicKey) };
  };
  const own = answeredKey(toKey(options.privateKey, 'private key'));
  const events = new EventEmitter();
  const drops = createDrops(log, events);
  let closed = false;
  const ctx: DeviceContext = {
    clock: options.clock ?? systemClock,
    log,
    timings: { ...DEFAULT_TIMINGS, ...options.timings },
    mtu: options.mtu ?? DEFAULT_MTU,
    aead: aeadBackend(options.aead),
    local: own.local,
    answered: [own],
    peers: new Map<string, Peer>(),
    routes: createAllowedIps<Peer>(),
    indices: createIndexTable(),
    drop: drops.drop,
    events,
    isClosed: () => closed,
    setState(peer, state, reason) {
      if (peer.state === state) return;
      peer.state = state;
      events.emit('peer', { publicKey: peer.id, state, reason });
    },
  };
  const { peers, routes, clock } = ctx;

  const bind = await openUdpBind(
    { port: options.listenPort, address: options.bindAddress, recvBufferSize: options.recvBufferSize ?? DEFAULT_RECV_BUFFER, log },
    (d, from) => receiveDatagram(d, from),
  );
  const paths = createPaths(ctx, bind);
  const handshakes = createHandshakes(ctx, { paths, sendKeepalive: (peer) => transport.sendKeepalive(peer) });
  const transport = createTransport(ctx, { paths, handshakes, deliver: (peer, plaintext, from) => netstack.deliver(peer, plaintext, from) });
  const forwarding = createForwarding(ctx, { enabled: options.forwarding ?? false, transport });
  const netstack = createNetstack(ctx, { address: options.address, transport, forwarding });
  const gate = createHandshakeGate(ctx, {
    load: createLoadMeter(clock, options.cookieThreshold ?? 64),
    limiter: createRateLimiter(clock), bind, handshakes,
  });
  const handshakeQueue = createHandshakeQueue(ctx, (d, type, from) => {
    if (type === MESSAGE_COOKIE_REPLY) handshakes.handleCookieReply(d);
    else gate.receive(d, type, from);
  });
  const timerActions = createTimerActions(ctx, { handshakes, transport });

  function receiveDatagram(d: Uint8Array, from: Endpoint): void {
    if (closed) return;
    const type = messageType(d);
    switch (type) {
      case MESSAGE_INITIATION:
      case MESSAGE_RESPONSE:
      case MESSAGE_COOKIE_REPLY:
        return handshakeQueue.push(d, type, from);
      case MESSAGE_TRANSPORT:
        return transport.receive(d, from);
      default:
        return drops.drop('not a wireguard message');
    }
  }

  function addPeer(config: PeerConfig): void {
    const publicKey = toKey(config.publicKey, 'peer public key');
    const id = formatKey(publicKey);
    if (peers.has(id)) throw new Error(`peer ${id} already exists`);
    if (id === ctx.answered[0].id) throw new Error('a peer cannot have this device\'s own public key');
    if (ctx.answered.some((k) => k.id === id)) throw new Error('a peer cannot have a key this device answers for');
    const staticStatic = dh(ctx.local.privateKey, publicKeyObject(publicKey));
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
      timers: undefined as unknown as PeerTimers,
      state: 'idle',
      counters: newCounters(),
    };
    peer.timers = createPeerTimers(clock, timerActions(peer), keepalive);
    peers.set(id, peer);
    for (const p of prefixes) routes.insert(p, peer);
    log.info({ peer: id, allowedIPs: prefixes.map(formatPrefix), endpoint: formatEndpoint(endpoint) }, 'peer added');
    // As wireguard-go: a persistent keepalive starts at once, which brings the session up.
    if (keepalive > 0 && paths.reachable(peer)) transport.sendKeepalive(peer);
  }

  function removePeer(publicKey: string): boolean {
    const peer = peers.get(publicKey);
    if (!peer) return false;
    stopTimers(peer.timers);
    zeroKeyMaterial(ctx, peer);
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

  function answerAlso(privateKey: string | Uint8Array): AnsweredKey {
    const key = answeredKey(toKey(privateKey, 'private key'));
    const known = ctx.answered.find((k) => k.id === key.id);
    if (known) return known;
    if (peers.has(key.id)) throw new Error(`key ${key.id} is a peer's`);
    ctx.answered.push(key);
    log.info({ key: key.id }, 'answering handshakes for another key');
    return key;
  }

  function setPrivateKey(privateKey: string | Uint8Array): void {
    const key = answerAlso(privateKey);
    if (key === ctx.answered[0]) return;
    // The new key first (initiations, mac1 checked first); the old one stays answered.
    ctx.answered.splice(ctx.answered.indexOf(key), 1);
    ctx.answered.unshift(key);
    ctx.local = key.local;
    for (const peer of peers.values()) {
      const staticStatic = dh(key.local.privateKey, publicKeyObject(peer.publicKey))!;
      wipe(peer.staticStatic);
      peer.staticStatic = staticStatic;
    }
    log.info({ key: key.id }, 'own key changed; sessions up are kept');
  }

  function stopAnswering(id: string): boolean {
    const at = ctx.answered.findIndex((k) => k.id === id);
    if (at < 1) return false;
    ctx.answered.splice(at, 1);
    log.info({ key: id }, 'no longer answering handshakes for a key');
    return true;
  }

  function peerOf(id: string): Peer {
    const peer = peers.get(id);
    if (!peer) throw new Error(`no peer ${id}`);
    return peer;
  }

  const device: Device = {
    get publicKey() {
      return ctx.answered[0].id;
    },
    address: options.address,
    port: bind.port,
    addPeer,
    removePeer,
    setPrivateKey,
    answerAlso: (privateKey) => void answerAlso(privateKey),
    stopAnswering,
    answering: () => ctx.answered.slice(1).map((k) => k.id),
    setEndpoint(id, endpoint) {
      peerOf(id).endpoint = typeof endpoint === 'string' ? parseEndpoint(endpoint) : endpoint;
    },
    setAllowedIPs(id, allowedIPs) {
      const peer = peerOf(id);
      const prefixes = allowedIPs.map(parsePrefix);
      routes.removeValue(peer);
      for (const p of prefixes) routes.insert(p, peer);
    },
    bindUdp: netstack.bindUdp,
    sendUdp: netstack.sendUdp,
    sendPacket: transport.sendPacket,
    setRelay: bind.setRelay,
    receiveDatagram,
    setPathOwner: paths.setOwner,
    sendDatagram(to, datagram) {
      if (closed) return false;
      const refused = bind.send(to, datagram, (err) => drops.drop('send failed', { endpoint: formatEndpoint(to), err: err.message }));
      if (refused) drops.drop(refused, { endpoint: formatEndpoint(to) });
      return !refused;
    },
    peerStats,
    stats: () => ({ port: bind.port, peers: [...peers.keys()].map((id) => peerStats(id)!), drops: drops.counts(), forwarded: forwarding.forwarded }),
    on(event, listener) { events.on(event, listener); return device; },
    off(event, listener) { events.off(event, listener); return device; },
    once(event, listener) { events.once(event, listener); return device; },
    async close() {
      if (closed) return;
      closed = true;
      for (const id of [...peers.keys()]) removePeer(id);
      await bind.close();
    },
  };
  return device;
}
