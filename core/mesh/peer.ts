// One peer of the mesh as the mesh keeps it: who it is, which addresses it owns and how to reach
// it. Membership files carry lists of these; the mesh turns them into WireGuard peers.
export interface MeshPeer {
  name: string;
  /** base64 WireGuard public key. */
  publicKey: string;
  /** Mesh address of the peer. */
  address: string;
  allowedIPs: string[];
  /** Underlay "a.b.c.d:port", if the peer can be reached directly. */
  endpoint?: string;
  /** Reach the peer through this relay (a peer name, normally the hub) when there is no direct path. */
  via?: string;
  persistentKeepalive?: number;
}
