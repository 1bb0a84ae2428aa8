// Who talks to whom, from the registry: every active node keeps a session with every other
// (the authority's commands, the hub's relay, the sync port between nodes). With a hub in the
// fleet, every peer but the hub is reached `via` it until the path owner proves a direct path
// (docs/nat.md): nodes usually sit behind NAT, and the hub is the only statically addressed
// peer. A peer's endpoint is only advertised where it means something: a public address to
// anyone, a private one (RFC 1918, CGNAT, loopback, link-local) only to peers in the same
// private network (the same /24), never as if it were public. The grant and every membership
// update a node receives are made here.
import { HUB_ROLE } from '../fleet/roles.js';
import type { MeshPeer } from '../mesh/peer.js';
import type { Membership } from '../membership/membership.js';
import type { RegistryNode } from '../registry/registry.js';

export interface AuthorityView {
  nodeId: number;
  commandPublicKey: string;
  epoch: number;
}

const hostOf = (endpoint: string) => endpoint.slice(0, endpoint.lastIndexOf(':'));

/** An address only its own network can reach: RFC 1918, CGNAT (RFC 6598), loopback, link-local. */
export function isPrivateAddress(host: string): boolean {
  const [a, b] = host.split('.').map(Number);
  return a === 10 || a === 127 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) ||
    (a === 100 && b >= 64 && b <= 127) || (a === 169 && b === 254);
}

const network24 = (host: string) => host.split('.').slice(0, 3).join('.');

/** Whether `viewer` can use `peer`'s endpoint as it is (public, or the same private network). */
function endpointMeansSomethingTo(peer: RegistryNode, viewer: RegistryNode): boolean {
  if (!peer.endpoint) return false;
  const host = hostOf(peer.endpoint);
  if (!isPrivateAddress(host)) return true;
  return !!viewer.endpoint && isPrivateAddress(hostOf(viewer.endpoint)) && network24(hostOf(viewer.endpoint)) === network24(host);
}

function peerOf(n: RegistryNode, viewer: RegistryNode, hub: RegistryNode | undefined): MeshPeer {
  const relayed = hub && n.id !== hub.id && viewer.id !== hub.id;
  // The hub's own endpoint is the one every node reaches it by, public or not.
  const endpoint = n.endpoint && (n.id === hub?.id || endpointMeansSomethingTo(n, viewer)) ? n.endpoint : undefined;
  return {
    name: n.name, publicKey: n.publicKey, address: n.address, allowedIPs: [`${n.address}/32`],
    ...(endpoint && { endpoint }), ...(relayed && { via: hub.name }),
  };
}

export function peersFor(node: RegistryNode, nodes: readonly RegistryNode[]): MeshPeer[] {
  const active = nodes.filter((n) => n.status === 'active');
  const hub = active.find((n) => n.role === HUB_ROLE);
  return active.filter((n) => n.id !== node.id).map((n) => peerOf(n, node, hub));
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
    // Each node is at its own key epoch (rotate-keys, a retired key); none recorded: the authority's.
    epoch: node.keyEpoch ?? authority.epoch,
    authority: { nodeId: self.id, address: self.address, commandPublicKey: authority.commandPublicKey },
    peers: peersFor(node, nodes),
    // The node's own key as recorded: after an identity change, the confirmation it waits for.
    publicKey: node.publicKey,
  };
}
