// Lays out a local mesh on this machine: one instance directory per node with its keys, its
// membership (who it is, which peers it has) and, for the admin, the registry. Only public keys
// leave an instance directory. Used by `npm run demo` and by the end-to-end tests.
import { join } from 'node:path';
import { ensureInstanceDir, loadSecret } from '../../core/node/instance-files.js';
import { saveMembership, type MeshPeer } from '../../core/node/membership.js';
import { formatKey, publicKeyOf } from '../../core/protocol/keys.js';
import { openRegistry } from '../../core/registry/registry.js';

export interface LocalNode {
  name: string;
  id: number;
  role: 'cloud-relay' | 'os-infrastructure' | 'os-network-admin';
  aliases: string[];
  groups: number[];
  /** Underlay UDP port of its WireGuard endpoint on 127.0.0.1. */
  wgPort: number;
  instanceDir: string;
}

export const EDGE_GROUP = { id: 1, name: 'edge', aliases: ['edge nodes', 'edge group', 'infrastructure nodes', 'infra nodes'] };

/** The seed's fleet: the hub, two edge nodes and the admin. */
export function localFleet(root: string, basePort = 51820): LocalNode[] {
  const node = (name: string, id: number, role: LocalNode['role'], aliases: string[], groups: number[]): LocalNode => ({
    name,
    id,
    role,
    aliases,
    groups,
    wgPort: basePort + id,
    instanceDir: join(root, name),
  });
  return [
    node('cloud-relay', 1, 'cloud-relay', ['relay', 'hub', 'cloud relay'], []),
    node('onprem', 2, 'os-infrastructure', ['on-premises', 'on-prem', 'on premises'], [EDGE_GROUP.id]),
    node('leased', 3, 'os-infrastructure', ['leased node', 'leased server'], [EDGE_GROUP.id]),
    node('admin', 10, 'os-network-admin', ['authority', 'control plane', 'admin node'], []),
  ];
}

const address = (n: LocalNode) => `10.8.0.${n.id}`;

/**
 * Creates what is missing (keys are kept across runs) and rewrites memberships and the registry.
 * Every node peers directly with the hub; the admin and the edge nodes also peer directly.
 */
export function prepareLocalMesh(nodes: LocalNode[]): void {
  const keys = new Map<string, string>();
  for (const n of nodes) {
    ensureInstanceDir(n.instanceDir);
    keys.set(n.name, formatKey(publicKeyOf(loadSecret(n.instanceDir, 'identity.key', true))));
  }
  const admin = nodes.find((n) => n.role === 'os-network-admin')!;
  const commandPublicKey = formatKey(publicKeyOf(loadSecret(admin.instanceDir, 'command.key', true)));
  const peerOf = (n: LocalNode): MeshPeer => ({
    name: n.name,
    publicKey: keys.get(n.name)!,
    address: address(n),
    allowedIPs: [`${address(n)}/32`],
    endpoint: `127.0.0.1:${n.wgPort}`,
  });
  const talksTo = (a: LocalNode, b: LocalNode) =>
    a !== b && (a.role === 'cloud-relay' || b.role === 'cloud-relay' || a.role === 'os-network-admin' || b.role === 'os-network-admin');

  for (const n of nodes) {
    saveMembership(n.instanceDir, {
      nodeId: n.id,
      name: n.name,
      role: n.role,
      address: address(n),
      listen: `127.0.0.1:${n.wgPort}`,
      groups: n.groups,
      epoch: 0,
      authority: { nodeId: admin.id, address: address(admin), commandPublicKey },
      peers: nodes.filter((m) => talksTo(n, m)).map(peerOf),
    });
  }

  const registry = openRegistry(join(admin.instanceDir, 'admin.db'));
  try {
    registry.upsertGroup(EDGE_GROUP, 'local-mesh setup');
    for (const n of nodes) {
      registry.upsertNode(
        {
          id: n.id,
          name: n.name,
          aliases: n.aliases,
          address: address(n),
          role: n.role,
          groups: n.groups,
          takesCommands: n.role === 'os-infrastructure',
          publicKey: keys.get(n.name)!,
          endpoint: `127.0.0.1:${n.wgPort}`,
          status: 'active',
        },
        'local-mesh setup',
      );
    }
  } finally {
    registry.close();
  }
}
