// ppn0: the mesh as the stages see it — UDP sockets on the node's mesh address. In userspace
// mode the sockets are virtual, carried by our WireGuard device over one real UDP socket (no
// root, no kernel module); in OS mode they are real sockets on an existing interface's address
// (kernel WireGuard or wireguard-go named ppn0, or a loopback address for local runs).
import { createSocket } from 'node:dgram';
import { createDevice, type Device, type Logger, type PeerConfig } from '../wireguard/device.js';
import type { MeshPeer } from '../node/membership.js';

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
  /** A UDP socket on the mesh address; port 0 picks a free one. Throws if the port is taken. */
  bind(port: number, onMessage: MeshHandler): Promise<MeshSocket>;
  /** Brings the peer set in line with `peers`: new ones added, gone ones removed, others untouched. */
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
}

export async function createMesh(options: MeshOptions): Promise<Mesh> {
  return options.mode === 'userspace' ? userspaceMesh(options) : osMesh(options);
}

const EPHEMERAL_FIRST = 49152;

async function userspaceMesh(options: MeshOptions): Promise<Mesh> {
  const device: Device = await createDevice({
    privateKey: options.privateKey,
    listenPort: options.listenPort,
    bindAddress: options.bindAddress,
    address: options.address,
    logger: options.logger,
  });
  const peers = new Map<string, string>();
  const bound = new Set<number>();
  const freePort = () => {
    for (let p = EPHEMERAL_FIRST; p <= 65535; p++) if (!bound.has(p)) return p;
    throw new Error('no free UDP port left on the mesh address');
  };
  const mesh: Mesh = {
    mode: 'userspace',
    address: options.address,
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
      const wanted = new Map(next.map((p) => [p.publicKey, p]));
      for (const key of peers.keys()) {
        if (!wanted.has(key)) {
          device.removePeer(key);
          peers.delete(key);
        }
      }
      for (const [key, peer] of wanted) {
        const json = JSON.stringify(peer);
        if (peers.get(key) === json) continue;
        if (peers.has(key)) device.removePeer(key);
        const config: PeerConfig = { publicKey: key, allowedIPs: peer.allowedIPs, endpoint: peer.endpoint, persistentKeepalive: peer.persistentKeepalive };
        device.addPeer(config);
        peers.set(key, json);
      }
    },
    whenConnected(address, timeoutMs) {
      const peer = [...peers.values()].map((j) => JSON.parse(j) as MeshPeer).find((p) => p.address === address);
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
    status: () => ({ mode: 'userspace', address: options.address, ...device.stats() }),
    close: () => device.close(),
  };
  mesh.setPeers(options.peers);
  return mesh;
}

async function osMesh(options: MeshOptions): Promise<Mesh> {
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
