// The node routes genesis adds to F8 (the f8-ingress stage mounts them after its token check):
//   POST /v1/nodes/:id/approve               → the node, or 404/409 (only a pending node)
//   POST /v1/nodes/:id/revoke                → the node, or 404/409 (never the authority itself)
//   POST /v1/nodes/:id/rename  {"name": "..."}  → the node, or 400/404/409 saying why not
// They run the same operations, with the same refusals, as `ppn nodes`.
import { NAME_PATTERN } from '../fleet/names.js';
import type { Registry } from '../registry/registry.js';
import { checkSchema } from '../runtime/schema-check.js';
import { openPairing, PairingError, type Pairing } from './pairing.js';

const renameSchema = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: { name: { type: 'string', pattern: NAME_PATTERN } },
};

const pairings = new WeakMap<Registry, Pairing>();

/** Answers a node route, or undefined when `method path` is not one of them. */
export async function nodeRoute(method: string, path: string, registry: Registry, readBody: () => Promise<unknown>): Promise<{ status: number; body: unknown } | undefined> {
  const route = /^\/v1\/nodes\/(\d{1,3})\/(approve|revoke|rename)$/.exec(path);
  if (method !== 'POST' || !route) return undefined;
  const [, id, action] = route;
  let pairing = pairings.get(registry);
  if (!pairing) pairings.set(registry, (pairing = openPairing(registry)));
  try {
    if (action === 'approve') return { status: 200, body: pairing.approve(Number(id), 'operator') };
    if (action === 'revoke') return { status: 200, body: pairing.revoke(Number(id), 'operator') };
    const body = await readBody();
    const problems = checkSchema(renameSchema, body);
    if (problems.length) return { status: 400, body: { error: 'invalid request', problems } };
    return { status: 200, body: pairing.rename(Number(id), (body as { name: string }).name, 'operator') };
  } catch (err) {
    if (err instanceof PairingError) return { status: err.status, body: { error: err.message } };
    throw err;
  }
}
