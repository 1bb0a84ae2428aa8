// The provisioning bundle: what the admin exports (`ppn provision export`) and a node pins before
// its first boot (`ppn provision --authority FILE`): the authority's public identity and, if
// asked for, a one-time enrolment token that admits the node without waiting for approval, and
// the authority's join endpoint, so that a node anywhere that reaches it outbound (behind NAT,
// on another network) joins without a beacon or a claim. The endpoint need not be signed: the
// join answer is authenticated by the pinned command key, so a wrong endpoint only fails.
import { readFileSync } from 'node:fs';
import { checkSchema, formatProblems } from '../runtime/schema-check.js';
import { ENDPOINT_PATTERN } from '../underlay/endpoint.js';
import { pinnedAuthoritySchema, type PinnedAuthority } from './authority-pin.js';

export const BUNDLE_FORMAT = 'ppn-provisioning/1';

export interface ProvisioningBundle {
  format: typeof BUNDLE_FORMAT;
  authority: PinnedAuthority;
  enrolmentToken?: string;
  /** The authority's join endpoint, IPv4:port. */
  joinEndpoint?: string;
  /** Informational: when the admin exported it and until when its token is good. */
  createdAt: string;
  tokenExpiresAt?: string;
}

const bundleSchema = {
  type: 'object',
  required: ['format', 'authority', 'createdAt'],
  additionalProperties: false,
  properties: {
    format: { const: BUNDLE_FORMAT },
    authority: pinnedAuthoritySchema,
    enrolmentToken: { type: 'string', pattern: '^[A-Za-z0-9_-]{43}$' },
    joinEndpoint: { type: 'string', pattern: ENDPOINT_PATTERN },
    createdAt: { type: 'string' },
    tokenExpiresAt: { type: 'string' },
  },
};

/** Reads and checks a bundle file; the error says which field is wrong, never a token. */
export function readBundle(path: string): ProvisioningBundle {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // JSON.parse quotes the text it choked on, which may be the token: say less.
    throw new Error(code === 'ENOENT' ? `${path}: no such file` : code ? `${path}: cannot read (${code})` : `${path}: not valid JSON`);
  }
  const problems = checkSchema(bundleSchema, data);
  if (problems.length) throw new Error(`${path} is not a provisioning bundle: ${formatProblems(problems)}`);
  return data as ProvisioningBundle;
}
