// Who talks to whom, from the registry: the authority and the hub keep a session with every
// active node; every other node with the authority and the hub only (nodes do not talk
// laterally). The grant and every membership update a node receives are made here.
import { HUB_ROLE } from '../fleet/roles.js';
import type { MeshPeer } from '../mesh/peer.js';
import type { Membership } from '../membership/membership.js';
import type { RegistryNode } from '../registry/registry.js';

export interface AuthorityView {
  nodeId: number;
  commandPublicKey: string;
  epoch: number;
}

function peerOf(n: RegistryNode): MeshPeer {
  return { name: n.name, publicKey: n.publicKey, address: n.address, allowedIPs: [`${n.address}/32`], ...(n.endpoint && { endpoint: n.endpoint }) };
}

export function peersFor(node: RegistryNode, nodes: readonly RegistryNode[], authorityId: number): MeshPeer[] {
  const active = nodes.filter((n) => n.status === 'active' && n.id !== node.id);
  const central = node.id === authorityId || node.role === HUB_ROLE;
  return active.filter((n) => central || n.id === authorityId || n.role === HUB_ROLE).map(peerOf);
}

/** What the node should know of itself and the mesh; undefined for a node whose endpoint is unknown. */
export function membershipFor(node: RegistryNode, nodes: readonly RegistryNode[], authority: AuthorityView): Membership | undefined {
  const self = nodes.find((n) => n.id === authority.nodeId);
  if (!node.endpoint || !self) return undefined;
  return {
    nodeId: node.id,
    name: node.name,
    role: node.role,
    address: node.address,
    listen: node.endpoint,
    groups: node.groups,
    epoch: authority.epoch,
    authority: { nodeId: self.id, address: self.address, commandPublicKey: authority.commandPublicKey },
    peers: peersFor(node, nodes, authority.nodeId),
  };
}
