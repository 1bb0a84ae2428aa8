// Who gets in, and at which address. A join request from an unknown key gets a node id at once
// (the lowest never used; once every id was used, that of the node revoked longest ago, whose key
// stays refused and whose state is forgotten first), inside one IMMEDIATE transaction, so concurrent joins, the CLI in another process
// and a restart half-way never hand out an id twice. The node is then pending until an operator
// approves it, unless it was claimed (pre-approved key), brings a valid one-time enrolment token,
// or the admin admits everyone (auto). Asking again is idempotent: the same key gets the same id.
// Pending requests are bounded so strangers cannot use the pool up: at most maxPending wait at
// once, at most maxPendingPerSource from one address, and a request nobody asks about again for
// pendingTtlMs is forgotten (a waiting node asks every second or so, so it never expires). An
// expired or rejected request gives its id back: only admitted nodes use addresses for good.
import { HUB_ID, MAX_NODE_ID, nodeAddress } from '../fleet/addresses.js';
import { uniqueName } from '../fleet/names.js';
import { HUB_ROLE, takesCommands } from '../fleet/roles.js';
import type { RegistryNode } from '../registry/registry.js';
import type { Pairing } from './pairing.js';
import { writeTransaction } from '../storage/durable-db.js';

export interface AdmissionPolicy {
  /** Admit every authenticated request at once (labs, benchmarks). */
  auto: boolean;
  /** Requests that may wait for approval at the same time; more are refused until some are decided. */
  maxPending: number;
  /** Groups a new node of a role joins. */
  groupsByRole: Record<string, number[]>;
  /** Pending requests from one source address (default PENDING_DEFAULTS). */
  maxPendingPerSource?: number;
  /** A pending request not asked about for this long is forgotten (default PENDING_DEFAULTS). */
  pendingTtlMs?: number;
}

export const PENDING_DEFAULTS = { maxPendingPerSource: 4, pendingTtlMs: 10 * 60_000 };

export interface AdmissionRequest {
  publicKey: string;
  name: string;
  role: string;
  /** The node's underlay WireGuard endpoint. */
  listen: string;
  token?: string;
  /** The address the request came from (for the per-source cap). */
  source?: string;
}

export type Admission =
  | { status: 'granted'; node: RegistryNode; via: 'already-active' | 'claim' | 'token' | 'auto' }
  | { status: 'pending'; node: RegistryNode; code: string; created: boolean }
  | { status: 'refused'; refusal: Refusal; reason: string };

export type Refusal = 'bad-token' | 'revoked' | 'too-many-pending' | 'too-many-pending-from-source' | 'pool-exhausted';

/** The lowest id never used, or undefined when the pool is exhausted. */
export function allocateId(usedIds: Iterable<number>, role: string): number | undefined {
  const used = new Set(usedIds);
  if (role === HUB_ROLE && !used.has(HUB_ID)) return HUB_ID;
  for (let id = HUB_ID + 1; id <= MAX_NODE_ID; id++) if (!used.has(id)) return id;
  return undefined;
}

export function admit(pairing: Pairing, request: AdmissionRequest, policy: AdmissionPolicy): Admission {
  const { registry } = pairing;
  const maxPerSource = policy.maxPendingPerSource ?? PENDING_DEFAULTS.maxPendingPerSource;
  const decide = writeTransaction(registry.db, (): Admission => {
    pairing.expirePending(policy.pendingTtlMs ?? PENDING_DEFAULTS.pendingTtlMs);
    const rejection = pairing.rejection(request.publicKey);
    if (rejection) return { status: 'refused', refusal: 'revoked', reason: rejection };
    const replacedBy = registry.replacedBy(request.publicKey);
    if (replacedBy !== undefined) return { status: 'refused', refusal: 'revoked', reason: `this key was node ${replacedBy}'s identity key until it changed it: a replaced key never joins again` };
    const known = pairing.byPublicKey(request.publicKey);
    const tokenOk = request.token !== undefined && pairing.tokenValid(request.token);
    if (request.token !== undefined && !tokenOk && known?.status !== 'active') {
      return { status: 'refused', refusal: 'bad-token', reason: 'the enrolment token is unknown, used or expired' };
    }
    const via = pairing.hasPreapproval(request.publicKey) ? 'claim' : tokenOk ? 'token' : policy.auto ? 'auto' : undefined;
    const consume = (nodeId: number) => {
      if (via === 'claim') pairing.usePreapproval(request.publicKey);
      if (via === 'token') pairing.useToken(request.token!, nodeId);
    };

    if (known) {
      if (known.status === 'revoked') return { status: 'refused', refusal: 'revoked', reason: `this key was revoked (node ${known.id}, ${known.name})` };
      let node = known;
      if (known.endpoint !== request.listen) {
        registry.upsertNode({ ...known, endpoint: request.listen }, 'genesis');
        node = registry.node(known.id)!;
      }
      if (node.status === 'active') return { status: 'granted', node, via: 'already-active' };
      if (via) {
        consume(node.id);
        registry.setStatus(node.id, 'active', `genesis:${via}`);
        return { status: 'granted', node: registry.node(node.id)!, via };
      }
      pairing.touchRequest(node.id, request.source);
      return { status: 'pending', node, code: pairing.find(node.id)!.code!, created: false };
    }

    if (!via && pairing.pendingCount() >= policy.maxPending) {
      return { status: 'refused', refusal: 'too-many-pending', reason: `${policy.maxPending} join requests are already waiting for approval; approve or revoke some first` };
    }
    if (!via && request.source !== undefined && pairing.pendingCountFrom(request.source) >= maxPerSource) {
      return { status: 'refused', refusal: 'too-many-pending-from-source', reason: `${maxPerSource} join requests from ${request.source} are already waiting for approval` };
    }
    // Every id was used once: the one of the node revoked longest ago is given again.
    const id = allocateId(registry.nodes().map((n) => n.id), request.role) ?? pairing.reclaimRevokedId(request.role);
    if (id === undefined) return { status: 'refused', refusal: 'pool-exhausted', reason: `the address pool is exhausted: every node id 1..${MAX_NODE_ID} is held by an active or pending node` };
    const nodes = registry.nodes();
    const node: RegistryNode = {
      id,
      name: uniqueName(request.name, new Set(nodes.map((n) => n.name))),
      aliases: [],
      address: nodeAddress(id),
      role: request.role,
      groups: policy.groupsByRole[request.role] ?? [],
      takesCommands: takesCommands(request.role),
      publicKey: request.publicKey,
      endpoint: request.listen,
      status: via ? 'active' : 'pending',
    };
    registry.upsertNode(node, via ? `genesis:${via}` : 'genesis');
    const code = pairing.recordRequest(id, request.source);
    consume(id);
    const saved = registry.node(id)!;
    return via ? { status: 'granted', node: saved, via } : { status: 'pending', node: saved, code, created: true };
  });
  return decide();
}
