// The join handshake's messages: a JSON request over HTTP to the authority's join endpoint, and
// the authority's JSON answer. Both are authenticated with an HMAC keyed from the X25519 secret
// between the node's identity key and the authority's command key (HKDF salt "ppn/join/v1"):
// the request proves the node holds its key, the answer proves it comes from the authority the
// node pinned. An enrolment token travels sealed (ChaCha20-Poly1305) under a sibling key, so a
// listener on the LAN cannot take it for a key of its own. Layouts in docs/genesis.md.
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { NODE_ID_SCHEMA } from '../fleet/addresses.js';
import { NAME_PATTERN } from '../fleet/names.js';
import { InvalidKeyError, parseKey } from '../keys/index.js';
import { membershipSchema, type Membership } from '../membership/membership.js';
import { pairSecret } from '../protocol/key-derivation.js';
import { checkSchema, formatProblems } from '../runtime/schema-check.js';
import { ENDPOINT_PATTERN } from '../underlay/endpoint.js';
import type { Refusal } from './admission.js';

export const JOIN_PATH = '/v1/join';
export const MAC_HEADER = 'ppn-mac';
export const MAX_JOIN_BODY = 4096;
const SALT = 'ppn/join/v1';
const REQUEST_LABEL = Buffer.from('ppn/join/v1 request\n');
const ANSWER_LABEL = Buffer.from('ppn/join/v1 answer\n');
const TOKEN_AAD = Buffer.from('ppn/join/v1 token');

export interface JoinRequest {
  v: 1;
  /** The node's X25519 identity (and WireGuard) public key. */
  publicKey: string;
  name: string;
  role: string;
  /** Where the node's WireGuard listens on the underlay. */
  listen: string;
  /** The node's idea of authority time (its clock corrected by the beacon or claim), ms. */
  at: number;
  /** 16 random bytes, hex: names this request in the answer and in the replay cache. */
  nonce: string;
  /** The enrolment token, sealed; only when the node has one. */
  token?: string;
}

export type JoinAnswer = {
  v: 1;
  nonce: string;
  /** Authority time, ms: lets a node with a wrong clock correct it. */
  at: number;
} & (
  | { status: 'granted'; membership: Membership; syncSeq: number }
  | { status: 'pending'; nodeId: number; code: string }
  | { status: 'refused'; refusal: JoinRefusal; reason: string }
);

export type JoinRefusal = Refusal | 'stale' | 'replayed';

const requestSchema = {
  type: 'object',
  required: ['v', 'publicKey', 'name', 'role', 'listen', 'at', 'nonce'],
  additionalProperties: false,
  properties: {
    v: { const: 1 },
    // parseKey checks the key below, with a more precise message than a pattern could give.
    publicKey: { type: 'string', maxLength: 44 },
    name: { type: 'string', pattern: NAME_PATTERN },
    role: { type: 'string', pattern: NAME_PATTERN },
    listen: { type: 'string', pattern: ENDPOINT_PATTERN },
    at: { type: 'integer', minimum: 0 },
    nonce: { type: 'string', pattern: '^[0-9a-f]{32}$' },
    token: { type: 'string', maxLength: 200 },
  },
};

const answerSchema = {
  type: 'object',
  required: ['v', 'nonce', 'at', 'status'],
  properties: {
    v: { const: 1 },
    nonce: { type: 'string' },
    at: { type: 'integer' },
    status: { enum: ['granted', 'pending', 'refused'] },
    membership: membershipSchema,
    syncSeq: { type: 'integer', minimum: 0 },
    nodeId: NODE_ID_SCHEMA,
    code: { type: 'string' },
    refusal: { type: 'string' },
    reason: { type: 'string' },
  },
};

export interface JoinKeys {
  mac: Buffer;
  seal: Buffer;
}

/** Both sides derive the same keys: node (own secret, authority command public) or authority (command secret, node public). */
export function joinKeys(ownSecret: Uint8Array, peerPublic: Uint8Array): JoinKeys {
  const ss = pairSecret(ownSecret, peerPublic);
  const derive = (info: string) => Buffer.from(hkdfSync('sha256', ss, SALT, info, 32));
  return { mac: derive('mac'), seal: derive('seal') };
}

function mac(key: Buffer, label: Buffer, body: Buffer): string {
  return createHmac('sha256', key).update(label).update(body).digest('base64url');
}

function macMatches(expected: string, given: string | undefined): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(given ?? '');
  return a.length === b.length && timingSafeEqual(a, b);
}

export function sealToken(keys: JoinKeys, token: string): string {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('chacha20-poly1305', keys.seal, nonce, { authTagLength: 16 });
  cipher.setAAD(TOKEN_AAD);
  return Buffer.concat([nonce, cipher.update(token, 'utf8'), cipher.final(), cipher.getAuthTag()]).toString('base64url');
}

export function openToken(keys: JoinKeys, sealed: string): string | undefined {
  const b = Buffer.from(sealed, 'base64url');
  if (b.length < 12 + 16 + 1) return undefined;
  try {
    const decipher = createDecipheriv('chacha20-poly1305', keys.seal, b.subarray(0, 12), { authTagLength: 16 });
    decipher.setAAD(TOKEN_AAD);
    decipher.setAuthTag(b.subarray(b.length - 16));
    return Buffer.concat([decipher.update(b.subarray(12, b.length - 16)), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}

export function newNonce(): string {
  return randomBytes(16).toString('hex');
}

/** Node side: the request body and its MAC header. */
export function sealRequest(keys: JoinKeys, request: JoinRequest): { body: Buffer; mac: string } {
  const body = Buffer.from(JSON.stringify(request));
  return { body, mac: mac(keys.mac, REQUEST_LABEL, body) };
}

export type OpenedRequest =
  | { ok: true; request: JoinRequest; publicKey: Buffer; keys: JoinKeys }
  | { ok: false; reason: 'malformed' | 'bad-mac'; detail: string };

/** Authority side: parses and authenticates a request with the authority's command secret. */
export function openRequest(body: Buffer, macHeader: string | undefined, commandSecret: Uint8Array): OpenedRequest {
  let data: unknown;
  try {
    data = JSON.parse(body.toString('utf8'));
  } catch (err) {
    return { ok: false, reason: 'malformed', detail: `malformed JSON: ${(err as Error).message}` };
  }
  const problems = checkSchema(requestSchema, data);
  if (problems.length) return { ok: false, reason: 'malformed', detail: formatProblems(problems) };
  const request = data as JoinRequest;
  let publicKey: Buffer;
  let keys: JoinKeys;
  try {
    publicKey = parseKey(request.publicKey, 'publicKey');
    keys = joinKeys(commandSecret, publicKey);
  } catch (err) {
    if (err instanceof InvalidKeyError) return { ok: false, reason: 'malformed', detail: err.message };
    throw err;
  }
  if (!macMatches(mac(keys.mac, REQUEST_LABEL, body), macHeader)) {
    return { ok: false, reason: 'bad-mac', detail: `the ${MAC_HEADER} header does not authenticate this request for its public key` };
  }
  return { ok: true, request, publicKey, keys };
}

/** Authority side: the answer body and its MAC header. */
export function sealAnswer(keys: JoinKeys, answer: JoinAnswer): { body: Buffer; mac: string } {
  const body = Buffer.from(JSON.stringify(answer));
  return { body, mac: mac(keys.mac, ANSWER_LABEL, body) };
}

export class JoinAnswerError extends Error {
  override name = 'JoinAnswerError';
}

/** Node side: accepts only an answer the pinned authority made for this very request. */
export function openAnswer(keys: JoinKeys, body: Buffer, macHeader: string | undefined, nonce: string): JoinAnswer {
  if (!macMatches(mac(keys.mac, ANSWER_LABEL, body), macHeader)) {
    throw new JoinAnswerError('the answer is not authenticated by the pinned authority');
  }
  const answer = JSON.parse(body.toString('utf8')) as JoinAnswer;
  const problems = checkSchema(answerSchema, answer);
  if (problems.length) throw new JoinAnswerError(`the authority's answer is malformed: ${formatProblems(problems)}`);
  if (answer.nonce !== nonce) throw new JoinAnswerError('the answer is for another request (nonce differs)');
  return answer;
}
