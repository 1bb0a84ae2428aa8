// Membership updates: the authority pushes each node what it should know (its peers, name,
// groups, key epoch) over the mesh to the node's sync port, whenever the registry changes and
// again every little while (UDP may lose one). A node takes an update only from the authority's
// mesh address (the diode: authority flows down), only signed with the pinned genesis key (the
// hub relays mesh traffic and must not be able to forge one), only for itself, and only newer
// than the last it took. Datagram: JSON {"body": text, "sig": base64 Ed25519 over
// "ppn/sync/v1\n" ‖ text}, text = JSON {v, seq, nodeId, membership}.
import { NODE_ID_SCHEMA } from '../fleet/addresses.js';
import { membershipSchema, type Membership } from '../membership/membership.js';
import { checkSchema, formatProblems } from '../runtime/schema-check.js';
import { signatureVerifier, type GenesisKey } from './signing-key.js';

const LABEL = Buffer.from('ppn/sync/v1\n');
/** An update for the hub lists every node; a mesh UDP datagram carries up to 65,507 bytes. */
export const MAX_SYNC_DATAGRAM = 65_507;

export interface MembershipUpdate {
  v: 1;
  seq: number;
  nodeId: number;
  membership: Membership;
}

const updateSchema = {
  type: 'object',
  required: ['v', 'seq', 'nodeId', 'membership'],
  additionalProperties: false,
  properties: { v: { const: 1 }, seq: { type: 'integer', minimum: 1 }, nodeId: NODE_ID_SCHEMA, membership: membershipSchema },
};

export function encodeUpdate(key: GenesisKey, update: MembershipUpdate): Buffer {
  const body = JSON.stringify(update);
  return Buffer.from(JSON.stringify({ body, sig: key.sign(Buffer.concat([LABEL, Buffer.from(body)])).toString('base64') }));
}

export const SYNC_REJECTS = ['malformed', 'forged', 'not-for-this-node', 'old'] as const;
/** 'current' is not a rejection: the periodic re-push of an update the node already has. */
export type SyncReject = (typeof SYNC_REJECTS)[number];

/** Node side: checks an update against the pinned genesis key, this node's id and the last seq taken. */
export function createUpdateChecker(options: { genesisKey: Buffer; nodeId: number; lastSeq: number }) {
  const verify = signatureVerifier(options.genesisKey);
  let last = options.lastSeq;
  return {
    check(datagram: Uint8Array): { ok: true; update: MembershipUpdate } | { ok: false; reason: SyncReject | 'current'; detail?: string } {
      let outer: { body?: unknown; sig?: unknown };
      try {
        outer = JSON.parse(Buffer.from(datagram).toString('utf8'));
      } catch {
        return { ok: false, reason: 'malformed', detail: 'not JSON' };
      }
      if (typeof outer?.body !== 'string' || typeof outer.sig !== 'string') return { ok: false, reason: 'malformed', detail: 'body and sig must be strings' };
      if (!verify(Buffer.concat([LABEL, Buffer.from(outer.body)]), Buffer.from(outer.sig, 'base64'))) return { ok: false, reason: 'forged' };
      const update = JSON.parse(outer.body) as MembershipUpdate;
      const problems = checkSchema(updateSchema, update);
      if (problems.length) return { ok: false, reason: 'malformed', detail: formatProblems(problems) };
      if (update.nodeId !== options.nodeId || update.membership.nodeId !== options.nodeId) return { ok: false, reason: 'not-for-this-node' };
      if (update.seq === last) return { ok: false, reason: 'current' };
      if (update.seq < last) return { ok: false, reason: 'old' };
      last = update.seq;
      return { ok: true, update };
    },
  };
}
