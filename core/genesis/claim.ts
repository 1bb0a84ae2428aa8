// Self-genesis: a node that heard no beacon waits on TCP 9443 for an admin to claim it. The node
// prints a one-time code; the operator types it into `ppn claim`. The exchange (one line of JSON
// each, docs/genesis.md):
//   node → admin   hello: the node's public key and a fresh nonce
//   admin → node   claim: {node key, nonce, the authority's identity, join endpoint, time}, signed
//                  with the authority's genesis key, and a proof of the code: an HMAC keyed by
//                  scrypt(code, node key ‖ nonce), so that a captured claim neither replays (the
//                  nonce) nor lets the 40-bit code be searched offline at any useful speed
//   node → admin   ok, or why not
// A node with a pinned authority accepts only that authority's signature; one without takes the
// identity the claim brings, proven by the code the operator carried from its screen.
import { createHmac, scrypt, timingSafeEqual } from 'node:crypto';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { parseKey } from '../keys/index.js';
import { checkSchema, formatProblems } from '../runtime/schema-check.js';
import { pinnedAuthoritySchema, samePin, type PinnedAuthority } from './authority-pin.js';
import { ENDPOINT_PATTERN, parseEndpoint, type Endpoint } from '../underlay/endpoint.js';
import { newNonce } from './join.js';
import { LineError, lineReader, writeLine } from './lines.js';
import { signatureVerifier, type GenesisKey } from './signing-key.js';

const DOMAIN = 'ppn/claim/v1';
const SIGN_LABEL = Buffer.from(`${DOMAIN}\n`);
const PROOF_LABEL = Buffer.from(`${DOMAIN} proof\n`);
const MAX_LINE = 8192;
/** Connections held at once, and from one source address; more are refused (see serve). */
export const CLAIM_MAX_CONNECTIONS = 16;
export const CLAIM_MAX_PER_SOURCE = 4;
/** How long a connection may take to send its claim line. */
export const CLAIM_IDLE_MS = 10_000;
const SCRYPT = { N: 1 << 14, r: 8, p: 1 };

export interface Claim {
  v: 1;
  nodeKey: string;
  nonce: string;
  authority: PinnedAuthority;
  joinEndpoint: string;
  /** Authority time, ms. */
  at: number;
}

const claimSchema = {
  type: 'object',
  required: ['v', 'nodeKey', 'nonce', 'authority', 'joinEndpoint', 'at'],
  additionalProperties: false,
  properties: {
    v: { const: 1 },
    nodeKey: { type: 'string' },
    nonce: { type: 'string' },
    authority: pinnedAuthoritySchema,
    joinEndpoint: { type: 'string', pattern: ENDPOINT_PATTERN },
    at: { type: 'integer', minimum: 0 },
  },
};
const messageSchema = {
  type: 'object',
  required: ['v', 'claim', 'signature', 'proof'],
  additionalProperties: false,
  properties: { v: { const: 1 }, claim: { type: 'string', maxLength: 4096 }, signature: { type: 'string', maxLength: 100 }, proof: { type: 'string', maxLength: 100 } },
};
const helloSchema = {
  type: 'object',
  required: ['v', 'publicKey', 'nonce'],
  additionalProperties: false,
  properties: { v: { const: 1 }, publicKey: { type: 'string' }, nonce: { type: 'string', pattern: '^[0-9a-f]{32}$' } },
};

function codeKey(code: string, nodeKey: string, nonce: string): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(code, Buffer.from(`${DOMAIN}\n${nodeKey}\n${nonce}`), 32, SCRYPT, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

async function proofOf(code: string, claim: Claim, text: string): Promise<Buffer> {
  return createHmac('sha256', await codeKey(code, claim.nodeKey, claim.nonce)).update(PROOF_LABEL).update(text).digest();
}

export const CLAIM_REJECTS = ['malformed', 'wrong-session', 'wrong-authority', 'bad-signature', 'wrong-code', 'too-long', 'idle', 'busy'] as const;
export type ClaimReject = (typeof CLAIM_REJECTS)[number];

export interface ClaimListener {
  readonly port: number;
  /** Resolves with the first valid claim; the listener is closed by then. */
  readonly claimed: Promise<Claim>;
  readonly rejected: Record<ClaimReject, number>;
  close(): Promise<void>;
}

export interface ClaimListenerOptions {
  host: string;
  port: number;
  /** The normalised one-time code the node shows. */
  code: string;
  nodePublicKey: string;
  pinned?: PinnedAuthority;
  /** Called for every refusal (it is counted in `rejected` too); callers log it at a sampled rate. */
  onReject?(reason: ClaimReject, from: string, detail: string): void;
  /** Defaults: CLAIM_MAX_CONNECTIONS, CLAIM_MAX_PER_SOURCE, CLAIM_IDLE_MS. */
  maxConnections?: number;
  maxPerSource?: number;
  idleMs?: number;
}

/** Node side. Claims are checked one at a time (scrypt is the throttle on guessing). */
export async function listenForClaim(options: ClaimListenerOptions): Promise<ClaimListener> {
  const rejected = Object.fromEntries(CLAIM_REJECTS.map((r) => [r, 0])) as Record<ClaimReject, number>;
  let done = false;
  let resolveClaim!: (claim: Claim) => void;
  const claimed = new Promise<Claim>((resolve) => (resolveClaim = resolve));
  const maxConnections = options.maxConnections ?? CLAIM_MAX_CONNECTIONS;
  const maxPerSource = options.maxPerSource ?? CLAIM_MAX_PER_SOURCE;
  const idleMs = options.idleMs ?? CLAIM_IDLE_MS;
  const refuse = (reason: ClaimReject, from: string, detail: string) => {
    rejected[reason]++;
    options.onReject?.(reason, from, detail);
  };
  // Connections still waiting for their claim line, oldest first. Silent strangers must not lock
  // out the admin: past the total cap the oldest silent connection makes room for the newcomer,
  // and one source holds at most maxPerSource, so a flood from one address cannot evict the
  // admin's connection in the moment between our hello and its claim.
  const silent = new Set<Socket>();
  const perSource = new Map<string, number>();
  const open = new Set<Socket>();
  const admit = (socket: Socket, source: string, from: string): boolean => {
    if ((perSource.get(source) ?? 0) >= maxPerSource) {
      refuse('busy', from, `${maxPerSource} connections from ${source} are open already`);
      socket.destroy();
      return false;
    }
    if (open.size >= maxConnections) {
      const oldest = silent.values().next().value;
      if (!oldest) {
        refuse('busy', from, `${maxConnections} connections are open already`);
        socket.destroy();
        return false;
      }
      refuse('busy', `${oldest.remoteAddress}:${oldest.remotePort}`, 'dropped for a newer connection: no claim line yet');
      oldest.destroy();
    }
    open.add(socket);
    silent.add(socket);
    perSource.set(source, (perSource.get(source) ?? 0) + 1);
    socket.once('close', () => {
      open.delete(socket);
      silent.delete(socket);
      const n = (perSource.get(source) ?? 1) - 1;
      if (n > 0) perSource.set(source, n);
      else perSource.delete(source);
    });
    return true;
  };
  const server: Server = createServer((socket) => {
    const source = socket.remoteAddress ?? '?';
    if (admit(socket, source, `${source}:${socket.remotePort}`)) void serve(socket);
  });
  // Lines are read concurrently (a silent client holds up nobody); the checks run one at a time.
  let queue: Promise<unknown> = Promise.resolve();
  const oneAtATime = <T>(work: () => Promise<T>): Promise<T> => {
    const run = queue.then(work);
    queue = run.catch(() => undefined);
    return run;
  };

  const check = async (line: string, nonce: string): Promise<Claim | { reason: ClaimReject; detail: string }> => {
    let message: { claim: string; signature: string; proof: string };
    let claim: Claim;
    try {
      message = JSON.parse(line);
      const problems = checkSchema(messageSchema, message);
      if (problems.length) return { reason: 'malformed', detail: formatProblems(problems) };
      claim = JSON.parse(message.claim);
    } catch {
      return { reason: 'malformed', detail: 'not valid JSON' };
    }
    const problems = checkSchema(claimSchema, claim);
    if (problems.length) return { reason: 'malformed', detail: `claim: ${formatProblems(problems)}` };
    if (claim.nodeKey !== options.nodePublicKey || claim.nonce !== nonce) return { reason: 'wrong-session', detail: 'the claim names another node or session' };
    if (options.pinned && !samePin(options.pinned, claim.authority)) return { reason: 'wrong-authority', detail: 'this node is pinned to another authority' };
    const verify = signatureVerifier(parseKey(claim.authority.genesisKey));
    if (!verify(Buffer.concat([SIGN_LABEL, Buffer.from(message.claim)]), Buffer.from(message.signature, 'base64'))) {
      return { reason: 'bad-signature', detail: "the claim is not signed by the authority's genesis key it names" };
    }
    const expected = await proofOf(options.code, claim, message.claim);
    const given = Buffer.from(message.proof, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { reason: 'wrong-code', detail: 'wrong claim code' };
    return claim;
  };

  const serve = async (socket: Socket) => {
    const from = `${socket.remoteAddress}:${socket.remotePort}`;
    const next = lineReader(socket, MAX_LINE);
    const nonce = newNonce();
    // Our answer is the last thing said on a connection: end, then close it whatever the peer does.
    const finish = (answer: unknown) => {
      open.delete(socket);
      socket.end(`${JSON.stringify(answer)}\n`, () => socket.destroy());
    };
    writeLine(socket, { v: 1, publicKey: options.nodePublicKey, nonce });
    let result: Claim | { reason: ClaimReject; detail: string };
    try {
      const line = await next(idleMs);
      silent.delete(socket);
      result = await oneAtATime(async () => (done ? { reason: 'wrong-session' as const, detail: 'this node has been claimed already' } : check(line, nonce)));
    } catch (err) {
      const reason = !(err instanceof LineError) ? 'malformed' : err.reason === 'too-long' ? 'too-long' : err.reason === 'timeout' ? 'idle' : 'malformed';
      result = { reason, detail: (err as Error).message };
    }
    if ('reason' in result) {
      refuse(result.reason, from, result.detail);
      if (socket.destroyed) return;
      finish({ ok: false, reason: result.reason, error: result.detail });
      return;
    }
    done = true;
    finish({ ok: true });
    server.close();
    resolveClaim(result);
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return {
    port: (server.address() as { port: number }).port,
    claimed,
    rejected,
    close: () =>
      new Promise<void>((resolve) => {
        // Connections still talking to us; one being answered is closed once its answer is out.
        for (const socket of open) socket.destroy();
        if (server.listening) server.close(() => resolve());
        else resolve();
      }),
  };
}

export class ClaimRefusedError extends Error {
  override name = 'ClaimRefusedError';
  constructor(message: string, readonly reason?: ClaimReject) {
    super(message);
  }
}

export interface ClaimOptions {
  node: Endpoint;
  code: string;
  genesisKey: GenesisKey;
  authority: PinnedAuthority;
  joinEndpoint: string;
  now(): number;
  /** Called with the node's public key before the claim is sent (the admin pre-approves it). */
  beforeClaim?(nodeKey: string): void;
  timeoutMs?: number;
}

/** Admin side: claims the node at `node`; resolves with the node's public key, or throws why not. */
export async function claimNode(options: ClaimOptions): Promise<string> {
  parseEndpoint(options.joinEndpoint, 'join endpoint');
  const timeout = options.timeoutMs ?? 15_000;
  const socket = createConnection({ host: options.node.host, port: options.node.port });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', (err) => reject(new ClaimRefusedError(`cannot reach ${options.node.host}:${options.node.port}: ${(err as NodeJS.ErrnoException).code ?? err.message}`)));
  });
  const next = lineReader(socket, MAX_LINE);
  try {
    const hello = JSON.parse(await next(timeout));
    const problems = checkSchema(helloSchema, hello);
    if (problems.length) throw new ClaimRefusedError(`the node's hello is malformed: ${formatProblems(problems)}`);
    parseKey(hello.publicKey, "the node's public key");
    const claim: Claim = { v: 1, nodeKey: hello.publicKey, nonce: hello.nonce, authority: options.authority, joinEndpoint: options.joinEndpoint, at: options.now() };
    const text = JSON.stringify(claim);
    options.beforeClaim?.(claim.nodeKey);
    writeLine(socket, {
      v: 1,
      claim: text,
      signature: options.genesisKey.sign(Buffer.concat([SIGN_LABEL, Buffer.from(text)])).toString('base64'),
      proof: (await proofOf(options.code, claim, text)).toString('base64url'),
    });
    const answer = JSON.parse(await next(timeout)) as { ok?: boolean; reason?: ClaimReject; error?: string };
    if (answer.ok !== true) throw new ClaimRefusedError(`the node refused the claim: ${answer.error ?? 'no reason given'}`, answer.reason);
    return claim.nodeKey;
  } catch (err) {
    if (err instanceof ClaimRefusedError) throw err;
    throw new ClaimRefusedError(`claim failed: ${(err as Error).message}`);
  } finally {
    socket.destroy();
  }
}
