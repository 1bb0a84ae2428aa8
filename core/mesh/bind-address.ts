// Where the mesh's WireGuard socket binds, given the endpoint the node announces (membership's
// listen). A node behind a NAT or a cloud's 1:1 NAT announces a public address it does not
// have: binding to it fails (EADDRNOTAVAIL), so such a node binds the wildcard on the same port.
import { networkInterfaces } from 'node:os';

export function isLocalAddress(address: string): boolean {
  return Object.values(networkInterfaces()).some((list) => list?.some((i) => i.family === 'IPv4' && i.address === address));
}

/** The announced host if this machine has it (or it is the wildcard), else 0.0.0.0. */
export function bindAddressFor(announced: string): string {
  return announced === '0.0.0.0' || isLocalAddress(announced) ? announced : '0.0.0.0';
}
