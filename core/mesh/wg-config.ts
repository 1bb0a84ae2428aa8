// OS mode's interface configuration: the wg-quick file for ppn0 from a node's identity key and
// membership (`ppn wg-config`). The relay is a userspace feature (the kernel hands us no
// datagrams to carry), so a peer this node reaches only `via` a hub has no path from an OS
// interface: it is listed without an Endpoint (it can still reach us, and WireGuard learns where
// it is), and the caller is told.
import { formatKey, parseKey, publicKeyOf } from '../keys/index.js';
import { formatWgQuick } from '../wireguard/config.js';
import type { MeshPeer } from './peer.js';

/** What of a node's membership the file needs (a Membership is one). */
export interface WgQuickNode {
  name: string;
  address: string;
  /** Underlay "a.b.c.d:port" the interface listens on. */
  listen: string;
  peers: readonly MeshPeer[];
}

export interface WgConfigResult {
  /** The file's text: it holds the private key. */
  text: string;
  /** What the file cannot express, one line each, for the operator. */
  warnings: string[];
}

export function wgQuickFor(membership: WgQuickNode, secret: Uint8Array): WgConfigResult {
  const warnings: string[] = [];
  const peers = membership.peers.map((p) => {
    let comment = `${p.name} (${p.address})`;
    if (!p.endpoint && p.via) {
      comment += `: reached via ${p.via} in userspace mode; an OS interface has no relay, so only it can start the session`;
      warnings.push(`${p.name}: only reachable via ${p.via} (relay), which OS mode does not do; listed without an Endpoint`);
    }
    return { comment, publicKey: parseKey(p.publicKey, `${p.name}'s public key`), allowedIPs: p.allowedIPs, endpoint: p.endpoint, persistentKeepalive: p.persistentKeepalive };
  });
  const text = formatWgQuick({
    comment: `ppn0 of ${membership.name} (OS mode), written by \`ppn wg-config\`. Holds the private key: keep it 0600.\n`
      + `Its public key: ${formatKey(publicKeyOf(secret))}`,
    privateKey: secret,
    address: `${membership.address}/32`,
    listenPort: Number(membership.listen.split(':')[1]),
    peers,
  });
  return { text, warnings };
}
