// What a node knows of itself and the mesh: its id, address and groups, the authority it obeys,
// and the peers it keeps WireGuard sessions with. Written when the node joins (or by the demo's
// setup) to membership.json in the instance directory; public keys only, never a secret.
import { join } from 'node:path';
import { NODE_ID_SCHEMA } from '../fleet/addresses.js';
import { NAME_PATTERN } from '../fleet/names.js';
import { KEY_PATTERN } from '../keys/index.js';
import type { MeshPeer } from '../mesh/peer.js';
import { checkSchema, formatProblems } from '../runtime/schema-check.js';
import { ENDPOINT_PATTERN } from '../underlay/endpoint.js';
import { readJson, writeJsonAtomic } from './instance-files.js';

export interface Membership {
  nodeId: number;
  name: string;
  role: string;
  address: string;
  /** Underlay "a.b.c.d:port" this node's WireGuard listens on. */
  listen: string;
  /** Ids of the groups the node belongs to. */
  groups: number[];
  /** The key epoch commands are signed under. */
  epoch: number;
  authority: { nodeId: number; address: string; commandPublicKey: string };
  peers: MeshPeer[];
  /**
   * The node's own identity public key as the authority records it. A node changing its identity
   * key takes the authority's update naming the new one as the confirmation (docs/keys.md).
   */
  publicKey?: string;
}

export const MEMBERSHIP_FILE = 'membership.json';

const KEY = { type: 'string', pattern: KEY_PATTERN };
const ADDRESS = { type: 'string', format: 'ipv4' };
const ENDPOINT = { type: 'string', pattern: ENDPOINT_PATTERN };
const NAME = { type: 'string', pattern: NAME_PATTERN };

export const membershipSchema = {
  type: 'object',
  required: ['nodeId', 'name', 'role', 'address', 'listen', 'groups', 'epoch', 'authority', 'peers'],
  additionalProperties: false,
  properties: {
    nodeId: NODE_ID_SCHEMA,
    name: NAME,
    role: NAME,
    address: ADDRESS,
    listen: ENDPOINT,
    groups: { type: 'array', items: { type: 'integer', minimum: 0, maximum: 255 }, uniqueItems: true },
    epoch: { type: 'integer', minimum: 0, maximum: 63 },
    publicKey: KEY,
    authority: {
      type: 'object',
      required: ['nodeId', 'address', 'commandPublicKey'],
      additionalProperties: false,
      properties: { nodeId: NODE_ID_SCHEMA, address: ADDRESS, commandPublicKey: KEY },
    },
    peers: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'publicKey', 'address', 'allowedIPs'],
        additionalProperties: false,
        properties: {
          name: NAME,
          publicKey: KEY,
          address: ADDRESS,
          allowedIPs: { type: 'array', items: { type: 'string', pattern: '^\\d{1,3}(\\.\\d{1,3}){3}/\\d{1,2}$' }, minItems: 1 },
          endpoint: ENDPOINT,
          via: { type: 'string', minLength: 1 },
          persistentKeepalive: { type: 'integer', minimum: 0, maximum: 65535 },
        },
      },
    },
  },
};

export function loadMembership(instanceDir: string): Membership {
  const path = join(instanceDir, MEMBERSHIP_FILE);
  const data = readJson(path);
  const problems = checkSchema(membershipSchema, data);
  if (problems.length) throw new Error(`${path}: ${formatProblems(problems)}`);
  return data as Membership;
}

export function saveMembership(instanceDir: string, membership: Membership): void {
  const problems = checkSchema(membershipSchema, membership);
  if (problems.length) throw new Error(`membership: ${formatProblems(problems)}`);
  writeJsonAtomic(join(instanceDir, MEMBERSHIP_FILE), membership, 0o644);
}
