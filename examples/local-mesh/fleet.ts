// Lays out a local mesh on this machine: one instance directory per node with its keys, its
// membership (who it is, which peers it has) and, for the admin, the registry. Only public keys
// leave an instance directory. Used by `npm run demo` and by the end-to-end tests.
import { join } from 'node:path';
import { ensureInstanceDir, loadSecret } from '../../core/membership/instance-files.js';
import type { MeshPeer } from '../../core/mesh/peer.js';
import { saveMembership } from '../../core/membership/membership.js';
import { formatKey, publicKeyOf } from '../../core/keys/index.js';
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
 * Edge nodes as if behind a NAT: nobody knows an endpoint for them (not the registry, not the
 * hub, not the admin). Each keeps its own sessions alive (persistent keepalives) with the hub
 * directly and with the admin through the hub's relay, so the demo and the end-to-end tests run
 * one end-to-end session directly (leased) and one relayed by the hub (onprem).
 */
export const RELAYED = new Set(['onprem']);
const KEEPALIVE_SECONDS = 25;

/**
 * Creates what is missing (keys are kept across runs) and rewrites memberships and the registry.
 * Every node peers directly with the hub; the admin and each edge node also peer end to end,
 * directly or `via` the hub. (Spokes route only the hub's own address to it: a spoke that should
 * reach stock WireGuard peers behind the hub would add their addresses to the hub's AllowedIPs.)
 */
export function prepareLocalMesh(nodes: LocalNode[]): void {
  const keys = new Map<string, string>();
  for (const n of nodes) {
    ensureInstanceDir(n.instanceDir);
    keys.set(n.name, formatKey(publicKeyOf(loadSecret(n.instanceDir, 'identity.key', true))));
  }
  const admin = nodes.find((n) => n.role === 'os-network-admin')!;
  const commandPublicKey = formatKey(publicKeyOf(loadSecret(admin.instanceDir, 'command.key', true)));
  const hub = nodes.find((n) => n.role === 'cloud-relay')!;
  /** How `n` appears in the membership of `seenFrom`. */
  const peerOf = (n: LocalNode, seenFrom: LocalNode): MeshPeer => {
    const natted = RELAYED.has(n.name);
    const path = natted && seenFrom === hub ? {} // learnt from its keepalives
      : (natted || RELAYED.has(seenFrom.name)) && n !== hub && seenFrom !== hub ? { via: hub.name }
        : { endpoint: `127.0.0.1:${n.wgPort}` };
    return {
      name: n.name,
      publicKey: keys.get(n.name)!,
      address: address(n),
      allowedIPs: [`${address(n)}/32`],
      ...path,
      ...(RELAYED.has(seenFrom.name) && { persistentKeepalive: KEEPALIVE_SECONDS }),
    };
  };
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
      peers: nodes.filter((m) => talksTo(n, m)).map((m) => peerOf(m, n)),
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
          ...(!RELAYED.has(n.name) && { endpoint: `127.0.0.1:${n.wgPort}` }),
          status: 'active',
        },
        'local-mesh setup',
      );
    }
  } finally {
    registry.close();
  }
}
