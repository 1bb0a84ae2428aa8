// Who may send what: the admin's operator policy (docs/diode.md). F8's own token (f8.token) is the
// operator 'operator' and may send every intent to every target, as before. Further operators are
// named in `operators.json` in the admin's instance directory, each with the SHA-256 of its bearer
// token (the token itself is never stored there) and the intents and targets it may send:
//
//   { "operators": { "night-shift": { "tokenSha256": "<64 hex>", "intents": ["ping"], "targets": ["leased"] } } }
//
// F8 names the operator from the bearer token; the signer, whatever the router drafted, refuses
// (and audits) a draft outside the operator's grant. A file that cannot be read grants nothing.
import { createHash, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NAME_PATTERN } from '../fleet/names.js';
import { draftTargets, type Draft } from './intent.js';

export const OPERATORS_FILE = 'operators.json';
/** The operator of F8's own token: unrestricted. */
export const MAIN_OPERATOR = 'operator';

export interface OperatorGrant {
  tokenSha256: string;
  /** Intent names this operator may send. */
  intents: string[];
  /** Target names (a node, a group, 'all') it may send to; absent: any target. */
  targets?: string[];
}

export interface OperatorPolicy {
  operators: Record<string, OperatorGrant>;
}

export type PolicyVerdict = { ok: true } | { ok: false; reason: 'unknown-operator' | 'intent-not-granted' | 'target-not-granted'; explanation: string };

/** The policy in `instanceDir`; none (no extra operators) when the file is absent. Throws, saying where, when it is malformed. */
export function loadOperatorPolicy(instanceDir: string): OperatorPolicy {
  const path = join(instanceDir, OPERATORS_FILE);
  if (!existsSync(path)) return { operators: {} };
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`${path}: ${(err as Error).message}`);
  }
  const problem = policyProblem(data);
  if (problem) throw new Error(`${path}: ${problem}`);
  return data as OperatorPolicy;
}

function policyProblem(data: unknown): string | undefined {
  if (!isObject(data) || !isObject(data.operators) || Object.keys(data).some((k) => k !== 'operators')) return "/: must be { \"operators\": { name: grant } }";
  const name = new RegExp(NAME_PATTERN);
  const names = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string' && x.length > 0);
  for (const [operator, grant] of Object.entries(data.operators)) {
    const at = `/operators/${operator}`;
    if (!name.test(operator)) return `${at}: not a valid operator name`;
    if (operator === MAIN_OPERATOR) return `${at}: '${MAIN_OPERATOR}' is F8's own token and cannot be listed`;
    if (!isObject(grant)) return `${at}: must be an object`;
    const unknown = Object.keys(grant).find((k) => !['tokenSha256', 'intents', 'targets'].includes(k));
    if (unknown) return `${at}/${unknown}: unknown field`;
    if (typeof grant.tokenSha256 !== 'string' || !/^[0-9a-f]{64}$/.test(grant.tokenSha256)) return `${at}/tokenSha256: must be 64 lower-case hex digits (sha256 of the token)`;
    if (!names(grant.intents)) return `${at}/intents: must be a list of intent names`;
    if (grant.targets !== undefined && !names(grant.targets)) return `${at}/targets: must be a list of target names`;
  }
  return undefined;
}

/** The operator a bearer token names, compared in constant time; undefined when none. */
export function operatorForToken(policy: OperatorPolicy, token: string): string | undefined {
  const given = createHash('sha256').update(token).digest();
  let found: string | undefined;
  // Every grant is compared, so the time does not say which one (or whether one) matched.
  for (const [operator, grant] of Object.entries(policy.operators)) {
    if (timingSafeEqual(given, Buffer.from(grant.tokenSha256, 'hex')) && !found) found = operator;
  }
  return found;
}

/** Whether `actor` may send this draft: its intent and every one of its targets granted. */
export function permits(policy: OperatorPolicy, actor: string, draft: Pick<Draft, 'intent' | 'target' | 'selector' | 'targets'>): PolicyVerdict {
  if (actor === MAIN_OPERATOR) return { ok: true };
  const grant = policy.operators[actor];
  if (!grant) return { ok: false, reason: 'unknown-operator', explanation: `no operator '${actor}' in ${OPERATORS_FILE}` };
  if (!grant.intents.includes(draft.intent)) return { ok: false, reason: 'intent-not-granted', explanation: `operator '${actor}' may not send '${draft.intent}' (granted: ${grant.intents.join(', ') || 'nothing'})` };
  const outside = grant.targets && draftTargets(draft).find((t) => !grant.targets!.includes(t.name));
  if (outside) return { ok: false, reason: 'target-not-granted', explanation: `operator '${actor}' may not send to '${outside.name}' (granted: ${grant.targets!.join(', ') || 'nothing'})` };
  return { ok: true };
}

function isObject(v: unknown): v is Record<string, any> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
