// Meshes in this process on loopback, for the mesh tests: named nodes with fresh keys, their
// MeshPeer records, and bounded waits on what arrives on a mesh socket.
import { pino } from 'pino';
import { createMesh, type Mesh, type MeshEndpoint, type MeshOptions } from '../../core/mesh/mesh.js';
import type { MeshPeer } from '../../core/mesh/peer.js';
import type { Membership } from '../../core/membership/membership.js';
import { formatKey, generateSecret, publicKeyOf } from '../../core/keys/index.js';

export interface TestNode {
  name: string;
  address: string;
  mesh: Mesh;
  publicKey: string;
  /** Underlay port of its WireGuard socket on 127.0.0.1. */
  port: number;
  /** How others list it: direct (with its endpoint) unless `via` names a relay. */
  asPeer(opts?: { via?: string; direct?: boolean; allowedIPs?: string[]; persistentKeepalive?: number }): MeshPeer;
}

export async function startNode(name: string, address: string, extra: Partial<MeshOptions> = {}): Promise<TestNode> {
  const secret = generateSecret();
  const mesh = await createMesh({
    mode: 'userspace',
    address,
    privateKey: secret,
    listenPort: 0,
    bindAddress: '127.0.0.1',
    peers: [],
    logger: pino({ level: 'silent' }),
    ...extra,
  });
  const port = mesh.device!.port;
  return {
    name, address, mesh, port,
    publicKey: formatKey(publicKeyOf(secret)),
    asPeer: (opts = {}) => ({
      name,
      publicKey: formatKey(publicKeyOf(secret)),
      address,
      allowedIPs: opts.allowedIPs ?? [`${address}/32`],
      ...(opts.via ? { via: opts.via } : { endpoint: `127.0.0.1:${port}` }),
      ...(opts.persistentKeepalive !== undefined && { persistentKeepalive: opts.persistentKeepalive }),
    }),
  };
}

export interface Inbox {
  port: number;
  send(address: string, port: number, payload: Uint8Array): boolean;
  /** The next datagram (already arrived or still to come) matching `match`; rejects after `ms`. */
  next(match?: (payload: Buffer, from: MeshEndpoint) => boolean, ms?: number): Promise<{ payload: Buffer; from: MeshEndpoint }>;
  close(): void;
}

/** A mesh socket that keeps what arrives, optionally echoing it back. */
export async function inbox(mesh: Mesh, port: number, echo = false): Promise<Inbox> {
  const got: { payload: Buffer; from: MeshEndpoint }[] = [];
  const waiters = new Set<{ match: (p: Buffer, f: MeshEndpoint) => boolean; resolve: (m: { payload: Buffer; from: MeshEndpoint }) => void }>();
  const socket = await mesh.bind(port, (payload, from) => {
    if (echo) socket.send(from.address, from.port, payload);
    const m = { payload, from };
    got.push(m);
    for (const w of [...waiters]) if (w.match(payload, from)) (waiters.delete(w), w.resolve(m));
  });
  return {
    port: socket.port,
    send: (address, p, payload) => socket.send(address, p, payload),
    next(match = () => true, ms = 10_000) {
      const seen = got.find((m) => match(m.payload, m.from));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const w = { match, resolve: (m: { payload: Buffer; from: MeshEndpoint }) => (clearTimeout(timer), resolve(m)) };
        const timer = setTimeout(() => (waiters.delete(w), reject(new Error(`no matching datagram on port ${socket.port} within ${ms} ms`))), ms);
        waiters.add(w);
      });
    },
    close: () => socket.close(),
  };
}

/** Sends `text` from one inbox to another node's echo port and waits for it to come back. */
export async function roundTrip(from: Inbox, to: TestNode, echoPort: number, text: string): Promise<void> {
  const back = from.next((p) => p.toString() === text);
  if (!from.send(to.address, echoPort, Buffer.from(text))) throw new Error(`nothing routes ${to.address}`);
  await back;
}

/** A node's membership as the registry would write it (the authority's key is a stand-in). */
export function membershipOf(name: string, address: string, listen: string, peers: MeshPeer[]): Membership {
  return {
    nodeId: Number(address.split('.')[3]), name, role: 'os-infrastructure', address, listen, groups: [1], epoch: 0,
    authority: { nodeId: 10, address: '10.8.0.10', commandPublicKey: formatKey(publicKeyOf(generateSecret())) },
    peers,
  };
}
