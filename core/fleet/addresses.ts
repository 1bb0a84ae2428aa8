// The mesh's address plan: one /24, node id = the host octet of the node's mesh address.
// Id 1 is the hub's (only a cloud-relay node takes it, as the design's table has it); the
// authority takes 10 unless told otherwise; 0 and 255 are the network and broadcast addresses.
export const MESH_PREFIX = '10.8.0';
export const MESH_NETWORK = `${MESH_PREFIX}.0/24`;
export const MIN_NODE_ID = 1;
export const MAX_NODE_ID = 254;
export const HUB_ID = 1;
export const DEFAULT_AUTHORITY_ID = 10;

/** A node's mesh address, for JSON schemas: exactly the texts nodeId() accepts. */
export const NODE_ADDRESS_PATTERN = `^${MESH_PREFIX.replaceAll('.', '\\.')}\\.(?:25[0-4]|2[0-4]\\d|1\\d\\d|[1-9]\\d?)$`;

/** JSON-schema fragment for a node id. */
export const NODE_ID_SCHEMA = { type: 'integer', minimum: MIN_NODE_ID, maximum: MAX_NODE_ID } as const;

export function isNodeId(id: number): boolean {
  return Number.isInteger(id) && id >= MIN_NODE_ID && id <= MAX_NODE_ID;
}

/** The mesh address of node `id`, e.g. 10.8.0.7. */
export function nodeAddress(id: number): string {
  if (!isNodeId(id)) throw new RangeError(`node id must be an integer in ${MIN_NODE_ID}..${MAX_NODE_ID}, got ${id}`);
  return `${MESH_PREFIX}.${id}`;
}

/** The node id an address names, or undefined when it is not a node address of the mesh. */
export function nodeId(address: string): number | undefined {
  if (!address.startsWith(`${MESH_PREFIX}.`)) return undefined;
  const host = address.slice(MESH_PREFIX.length + 1);
  if (!/^[1-9]\d{0,2}$/.test(host)) return undefined;
  const id = Number(host);
  return isNodeId(id) ? id : undefined;
}
