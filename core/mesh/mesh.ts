// ppn0: the mesh as the stages see it — UDP sockets on the node's mesh address. In userspace
// mode the sockets are virtual, carried by our WireGuard device over one real UDP socket (no
// root, no kernel module), and peers without a direct path are reached through a hub's relay
// (relay.ts); in OS mode they are real sockets on an existing interface's address (kernel
// WireGuard or wireguard-go named ppn0, or a loopback address for local runs).
import { createSocket } from 'node:dgram';
import { networkInterfaces } from 'node:os';
import { parseEndpoint } from '../underlay/endpoint.js';
import { createDevice, type Device, type Endpoint, type Logger } from '../wireguard/device.js';
import type { MeshPeer } from './peer.js';
import { createRelay } from './relay.js';
import { createPathOwner, type PathOwnerOptions } from './paths/owner.js';
import type { PathTimings } from './paths/path.js';

export type MeshMode = 'userspace' | 'os';

export interface MeshEndpoint {
  address: string;
  port: number;
}

export type MeshHandler = (payload: Buffer, from: MeshEndpoint) => void;

export interface MeshSocket {
  readonly port: number;
  /** False when nothing routes `address` (no peer for it in userspace mode). */
  send(address: string, port: number, payload: Uint8Array): boolean;
  close(): void;
}

export interface Mesh {
  readonly mode: MeshMode;
  readonly address: string;
  /** Userspace mode: the WireGuard device (its stats and events); the OS's business in OS mode. */
  readonly device?: Device;
  /** A UDP socket on the mesh address; port 0 picks a free one. Throws if the port is taken. */
  bind(port: number, onMessage: MeshHandler): Promise<MeshSocket>;
  /**
   * Brings the peer set in line with `peers`: new ones added, gone ones removed, others untouched.
   * A peer whose path alone changed (a direct endpoint instead of `via` the hub, or back) keeps
   * its session: only where its datagrams go changes.
   */
  setPeers(peers: readonly MeshPeer[]): void;
  /** Resolves when a WireGuard session with the peer at `address` is up (at once in OS mode). */
  whenConnected(address: string, timeoutMs: number): Promise<void>;
  status(): Record<string, unknown>;
  close(): Promise<void>;
}

export interface MeshOptions {
  mode: MeshMode;
  address: string;
  privateKey: Uint8Array;
  listenPort: number;
  bindAddress: string;
  peers: readonly MeshPeer[];
  logger: Logger;
  /** Userspace: route packets between peers by AllowedIPs (a hub's classic routing for stock peers). */
  forwarding?: boolean;
  /** Userspace: pass relay frames on between spokes (a hub). */
  relay?: boolean;
  /**
   * Userspace: own each peer's path (core/mesh/paths, docs/nat.md): probe direct candidates, go
   * direct once proven, fall back to the hub's relay; a hub (`relay`) also serves the lighthouse.
   * The hub named by peers' `via` gets a persistent keepalive (`keepalive` s, 25 by default).
   */
  paths?: { keepalive?: number; timings?: Partial<PathTimings> } & Pick<PathOwnerOptions, 'activeFor' | 'eagerPeers'>;
}

/** Seconds between keepalives to the hub, which keep a NAT's mapping for it open. */
export const DEFAULT_HUB_KEEPALIVE = 25;

/** This node's own underlay endpoints (its LAN addresses), offered to peers behind the same NAT. */
function localEndpoints(bindAddress: string, port: number): { host: string; port: number }[] {
  if (bindAddress !== '0.0.0.0') return [{ host: bindAddress, port }];
  return Object.values(networkInterfaces()).flat()
    .filter((i) => i && i.family === 'IPv4' && !i.internal)
    .map((i) => ({ host: i!.address, port }));
}

export async function createMesh(options: MeshOptions): Promise<Mesh> {
  return options.mode === 'userspace' ? userspaceMesh(options) : osMesh(options);
}

const EPHEMERAL_FIRST = 49152;

async function userspaceMesh(options: MeshOptions): Promise<Mesh> {
  const log = options.logger;
  const device: Device = await createDevice({
    privateKey: options.privateKey,
    listenPort: options.listenPort,
    bindAddress: options.bindAddress,
    address: options.address,
    logger: log,
    forwarding: options.forwarding,
  });
  // What each peer was configured with, by public key; and who owns which mesh address.
  const peers = new Map<string, MeshPeer>();
  const keyAt = new Map<string, string>();
  const relay = createRelay(device, { serve: options.relay ?? false, peerAt: (a) => keyAt.get(a), logger: log });
  let hubAddress: string | undefined;
  const paths = options.paths && createPathOwner(device, {
    logger: log, lighthouse: options.relay, hub: () => hubAddress,
    localEndpoints: () => localEndpoints(options.bindAddress, device.port), timings: options.paths.timings,
    activeFor: options.paths.activeFor, eagerPeers: options.paths.eagerPeers,
    onHubSilent: freshSession,
  });
  /** Forgets the peer's session (a restarted hub lost its end): the next datagram starts a new one. */
  function freshSession(key: string): void {
    const p = peers.get(key);
    if (!p) return;
    device.removePeer(key);
    device.addPeer({ publicKey: key, allowedIPs: p.allowedIPs, endpoint: p.endpoint ? parseEndpoint(p.endpoint) : undefined, persistentKeepalive: p.persistentKeepalive });
  }
  const bound = new Set<number>();
  const freePort = () => {
    for (let p = EPHEMERAL_FIRST; p <= 65535; p++) if (!bound.has(p)) return p;
    throw new Error('no free UDP port left on the mesh address');
  };

  /** The configured path: direct when there is an endpoint, else through the `via` peer's relay. */
  function pathOf(peer: MeshPeer, byName: Map<string, MeshPeer>): Endpoint | undefined {
    if (peer.endpoint) return parseEndpoint(peer.endpoint);
    if (!peer.via) return undefined;
    const hub = byName.get(peer.via);
    if (!hub || hub === peer) {
      log.warn({ peer: peer.name, via: peer.via }, 'via names no other peer: no path until the peer makes contact');
      return undefined;
    }
    return relay.path(hub.address, peer.address);
  }
  /** The hub's relay path to a peer reached `via` it (kept as the fallback of a direct path). */
  function relayOf(peer: MeshPeer, byName: Map<string, MeshPeer>): { relay: string } | undefined {
    const hub = peer.via ? byName.get(peer.via) : undefined;
    return hub && hub !== peer ? relay.path(hub.address, peer.address) as { relay: string } : undefined;
  }
  /** Per peer: the path in use, its RTT, why it is not direct, and the session's figures. */
  function pathStatus() {
    return [...peers.values()].map((p) => {
      const s = device.peerStats(p.publicKey);
      return {
        name: p.name, address: p.address, ...paths!.status(p.publicKey),
        lastHandshake: s?.lastHandshake, rxBytes: s?.rxBytes ?? 0, txBytes: s?.txBytes ?? 0,
      };
    });
  }
  const describePath = (p: MeshPeer) => p.endpoint ?? (p.via && `via ${p.via}`);

  const mesh: Mesh = {
    mode: 'userspace',
    address: options.address,
    device,
    async bind(port, onMessage) {
      const chosen = port === 0 ? freePort() : port;
      const handle = device.bindUdp(chosen, (payload, from) => onMessage(Buffer.from(payload), { address: from.address, port: from.port }));
      bound.add(chosen);
      return {
        port: chosen,
        send: (address, dstPort, payload) => device.sendUdp(chosen, address, dstPort, payload),
        close: () => {
          handle.close();
          bound.delete(chosen);
        },
      };
    },
    setPeers(next) {
      const byName = new Map(next.map((p) => [p.name, p]));
      // With paths owned, the hub that others are reached `via` is kept alive through NATs.
      const hubName = next.find((p) => p.via)?.via;
      hubAddress = hubName ? byName.get(hubName)?.address : undefined;
      const keepalive = options.paths?.keepalive ?? DEFAULT_HUB_KEEPALIVE;
      const wanted = new Map(next.map((p) => [p.publicKey,
        paths && p.name === hubName && p.persistentKeepalive === undefined ? { ...p, persistentKeepalive: keepalive } : p]));
      for (const key of peers.keys()) {
        if (!wanted.has(key)) {
          device.removePeer(key);
          paths?.removePeer(key);
          peers.delete(key);
        }
      }
      keyAt.clear();
      for (const p of next) keyAt.set(p.address, p.publicKey);
      for (const [key, peer] of wanted) {
        const old = peers.get(key);
        const path = pathOf(peer, byName);
        // Before the device sends anything for the peer (a keepalive at addPeer).
        paths?.setPeer(key, { name: peer.name, address: peer.address, relay: relayOf(peer, byName), configured: peer.endpoint ? parseEndpoint(peer.endpoint) : undefined });
        if (old && old.persistentKeepalive === peer.persistentKeepalive) {
          // Routes and path change under a live session; a path the device learnt since
          // (roaming) is kept unless the configured one changed.
          if (JSON.stringify(old.allowedIPs) !== JSON.stringify(peer.allowedIPs)) device.setAllowedIPs(key, peer.allowedIPs);
          if (path && describePath(old) !== describePath(peer)) {
            device.setEndpoint(key, path);
            log.info({ peer: peer.name, path: describePath(peer) }, 'peer path changed; session kept');
          }
        } else {
          if (old) device.removePeer(key);
          device.addPeer({ publicKey: key, allowedIPs: peer.allowedIPs, endpoint: path, persistentKeepalive: peer.persistentKeepalive });
        }
        peers.set(key, peer);
      }
    },
    whenConnected(address, timeoutMs) {
      const peer = [...peers.values()].find((p) => p.address === address);
      if (!peer) return Promise.reject(new Error(`no peer with mesh address ${address}`));
      if (device.peerStats(peer.publicKey)?.lastHandshake) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          device.off('handshake', onHandshake);
          reject(new Error(`no WireGuard session with ${peer.name} (${address}) after ${timeoutMs} ms`));
        }, timeoutMs);
        const onHandshake = (e: { publicKey: string }) => {
          if (e.publicKey !== peer.publicKey) return;
          clearTimeout(timer);
          device.off('handshake', onHandshake);
          resolve();
        };
        device.on('handshake', onHandshake);
        // An empty datagram to the discard port starts the handshake if none is under way.
        device.sendUdp(9, address, 9, new Uint8Array(0));
      });
    },
    status: () => ({
      mode: 'userspace', address: options.address, ...device.stats(), relay: relay.stats(),
      ...(paths && { paths: { ...paths.stats(), peers: pathStatus() } }),
    }),
    async close() {
      paths?.close();
      relay.close();
      await device.close();
    },
  };
  mesh.setPeers(options.peers);
  return mesh;
}

async function osMesh(options: MeshOptions): Promise<Mesh> {
  if (options.forwarding || options.relay) {
    // The OS interface's packets never pass through this process.
    throw new Error('mesh: forwarding and relay are userspace settings; in OS mode the kernel forwards (net.ipv4.ip_forward) and no relay is served');
  }
  if (options.paths) throw new Error('mesh: paths are a userspace setting; in OS mode the interface roams as WireGuard does');
  const sockets = new Set<{ close(): void }>();
  return {
    mode: 'os',
    address: options.address,
    async bind(port, onMessage) {
      const socket = createSocket('udp4');
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(port, options.address, () => {
          socket.off('error', reject);
          resolve();
        });
      });
      socket.on('message', (msg, rinfo) => onMessage(msg, { address: rinfo.address, port: rinfo.port }));
      const handle = {
        port: socket.address().port,
        send: (address: string, dstPort: number, payload: Uint8Array) => {
          socket.send(payload, dstPort, address);
          return true;
        },
        close: () => {
          sockets.delete(handle);
          socket.close();
        },
      };
      sockets.add(handle);
      return handle;
    },
    // The OS interface's peers are the OS's business (`ppn wg-config` writes them).
    setPeers: () => {},
    whenConnected: async () => {},
    status: () => ({ mode: 'os', address: options.address, sockets: sockets.size }),
    async close() {
      for (const s of [...sockets]) s.close();
    },
  };
}
