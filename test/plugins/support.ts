// What the plugin tests share: an authority and a node with real keys, their NodeIdentity as the
// node service would give it, and a real registry (SQLite in a temporary folder) holding them.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatKey, generateSecret, publicKeyOf } from '../../core/keys/index.js';
import { deriveHmacKey, pairSecret } from '../../core/protocol/key-derivation.js';
import { createNodeEpochKeys } from '../../core/protocol/epoch-keys.js';
import { parseKey } from '../../core/keys/index.js';
import { encodePacket, type CommandFields } from '../../core/protocol/packet.js';
import { openRegistry, type Registry } from '../../core/registry/registry.js';
import { readJson, writeJsonAtomic } from '../../core/membership/instance-files.js';
import type { Membership, MeshSocket, NodeIdentity } from '../../core/sdk/index.js';
import type { FakeMesh } from '../../core/sdk/testing.js';
import { createMembershipStore } from '../../core/membership/membership-store.js';

export const AUTHORITY_ADDRESS = '10.8.0.10';
export const NODE_ID = 3;
export const NODE_ADDRESS = '10.8.0.3';

/**
 * telemetry-ingress takes the acks that arrived together in one batch, once the poll of the
 * socket is over (setImmediate): resolves after the batch of what was delivered so far.
 */
export const acksTaken = () => new Promise<void>((resolve) => setImmediate(resolve));

export interface World {
  dir: string;
  authority: { secret: Buffer; commandSecret: Buffer };
  node: { secret: Buffer };
  /** The admin's identity (it holds the command key). */
  adminIdentity: NodeIdentity;
  /** Node 3's identity (leased, group 1). */
  nodeIdentity: NodeIdentity;
  registry: Registry;
  /** A correctly tagged command packet for node 3. */
  packet(counter: bigint, fields?: Partial<CommandFields>): Buffer;
  cleanup(): void;
}

function identity(dir: string, secret: Buffer, membership: Membership, commandSecret?: Buffer): NodeIdentity {
  mkdirSync(dir, { mode: 0o700 });
  const membershipStore = createMembershipStore(dir, membership);
  return {
    instanceDir: dir,
    secret,
    publicKey: formatKey(publicKeyOf(secret)),
    keys: createNodeEpochKeys({ nodeSecret: secret, authorityPublic: parseKey(membership.authority.commandPublicKey) }),
    commandSecret,
    membership: membershipStore.current,
    membershipStore,
    path: (name) => join(dir, name),
    readJson: (name) => {
      try {
        return readJson(join(dir, name));
      } catch {
        return undefined;
      }
    },
    writeJson: (name, value) => writeJsonAtomic(join(dir, name), value),
  };
}

/** `base`: the folder to make the world's directory in (default: the system's temporary folder). */
export function world(base = tmpdir()): World {
  const dir = mkdtempSync(join(base, 'ppn-plugins-'));
  const authority = { secret: generateSecret(), commandSecret: generateSecret() };
  const node = { secret: generateSecret() };
  const commandPublicKey = formatKey(publicKeyOf(authority.commandSecret));
  const membershipOf = (nodeId: number, name: string, address: string, role: string, groups: number[]): Membership => ({
    nodeId, name, role, address, listen: '127.0.0.1:51820', groups, epoch: 0,
    authority: { nodeId: 10, address: AUTHORITY_ADDRESS, commandPublicKey },
    peers: [],
  });
  const registry = openRegistry(join(dir, 'admin.db'));
  registry.upsertGroup({ id: 1, name: 'edge', aliases: [] }, 'test');
  registry.upsertNode(
    { id: NODE_ID, name: 'leased', aliases: [], address: NODE_ADDRESS, role: 'os-infrastructure', groups: [1], takesCommands: true, publicKey: formatKey(publicKeyOf(node.secret)), status: 'active' },
    'test',
  );
  const ss = pairSecret(authority.commandSecret, publicKeyOf(node.secret));
  return {
    dir,
    authority,
    node,
    adminIdentity: identity(join(dir, 'admin'), authority.secret, membershipOf(10, 'admin', AUTHORITY_ADDRESS, 'os-network-admin', []), authority.commandSecret),
    nodeIdentity: identity(join(dir, 'leased'), node.secret, membershipOf(NODE_ID, 'leased', NODE_ADDRESS, 'os-infrastructure', [1])),
    registry,
    packet(counter, fields = {}) {
      const f = { epoch: 0, opcode: 0x01, arg: 0, selector: NODE_ID, ...fields };
      return encodePacket(f, counter, deriveHmacKey(ss, 'command', f.epoch, NODE_ID));
    },
    cleanup() {
      registry.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The mesh, with every datagram a socket of it sends also handed to `onSend`. */
export function tapped(mesh: FakeMesh, onSend: (port: number, payload: Buffer) => void): FakeMesh {
  const bind = mesh.bind.bind(mesh);
  mesh.bind = async (port, onMessage): Promise<MeshSocket> => {
    const socket = await bind(port, onMessage);
    return {
      ...socket,
      send(to, toPort, payload) {
        const routed = socket.send(to, toPort, payload);
        if (routed) onSend(toPort, Buffer.from(payload));
        return routed;
      },
    };
  };
  return mesh;
}
