// The authority's join endpoint: HTTP on the underlay, one route (POST /v1/join). A request that
// does not authenticate gets a plain error and changes nothing; an authenticated one always gets
// an authenticated answer (granted, pending with the join code, or refused and why), stamped
// with the authority's time so a node with a wrong clock can correct it.
// The endpoint is reachable from the network by anyone, so it is bounded: a cap on connections,
// an idle timeout per connection, a deadline for the headers and for the whole request, a body
// limit. Whatever is refused is counted (join-rejected.*), and logged at a sampled rate.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { logSampler } from '../log-sampler.js';
import { formatCode } from './code.js';
import { admit, type Admission, type AdmissionPolicy } from './admission.js';
import { JOIN_PATH, MAC_HEADER, MAX_JOIN_BODY, openRequest, openToken, sealAnswer, type JoinAnswer, type JoinKeys, type JoinRefusal } from './join.js';
import type { Pairing } from './pairing.js';
import type { GenesisEvent } from '../contracts/genesis-event.js';

export type { GenesisEvent };
import { membershipFor, type AuthorityView } from './peers.js';

export interface JoinServerOptions {
  host: string;
  port: number;
  /** The authority's command secret, asked for each request (a hand-over replaces it). */
  commandSecret: () => Buffer;
  pairing: Pairing;
  policy: AdmissionPolicy;
  authority: AuthorityView;
  /** How far a request's time may be from the authority's, either way. */
  freshnessMs: number;
  now(): number;
  /** Runs before a grant is answered: the authority's own mesh must know the node by then. */
  beforeGrant(): void;
  /** The membership update sequence the grant is as new as. */
  syncSeq(): number;
  logger: Logger;
  onEvent(event: GenesisEvent): void;
  count(what: string): void;
  limits?: Partial<JoinServerLimits>;
}

export interface JoinServerLimits {
  /** Connections open at once; more are closed as they arrive. */
  maxConnections: number;
  /** A connection with no traffic this long is closed. */
  idleMs: number;
  /** The request's headers must have arrived this long after it started. */
  headersTimeoutMs: number;
  /** The whole request (headers and body) must have arrived this long after it started. */
  requestTimeoutMs: number;
}

export const JOIN_SERVER_LIMITS: JoinServerLimits = { maxConnections: 64, idleMs: 10_000, headersTimeoutMs: 5_000, requestTimeoutMs: 10_000 };
/** Warn lines per refusal reason and minute; every refusal is counted. */
const WARNINGS_PER_MINUTE = 5;

export interface JoinServer {
  readonly port: number;
  close(): Promise<void>;
}

const STATUS = { granted: 200, pending: 202 } as const;

export async function startJoinServer(o: JoinServerOptions): Promise<JoinServer> {
  const limits = { ...JOIN_SERVER_LIMITS, ...o.limits };
  const sampled = logSampler(WARNINGS_PER_MINUTE);
  const reject = (what: string, from: string, detail: string) => {
    o.count(`join-rejected.${what}`);
    if (sampled.allow(what)) o.logger.warn({ from, reason: what, detail }, 'join request rejected (sampled)');
  };
  /**
   * Nonces of authenticated requests still inside the freshness window: a replay is refused. Kept
   * in arrival order, so forgetting the expired ones stops at the first that is not.
   */
  const seen = new Map<string, number>();
  const remember = (nonce: string) => {
    const now = o.now();
    for (const [n, until] of seen) {
      if (until >= now) break;
      seen.delete(n);
    }
    seen.set(nonce, now + 2 * o.freshnessMs);
  };

  const answer = (res: ServerResponse, keys: JoinKeys, status: number, body: JoinAnswer) => {
    const sealed = sealAnswer(keys, body);
    res.writeHead(status, { 'content-type': 'application/json', [MAC_HEADER]: sealed.mac, 'cache-control': 'no-store' });
    res.end(sealed.body);
  };
  const plain = (res: ServerResponse, status: number, error: string, close = false) => {
    res.writeHead(status, { 'content-type': 'application/json', ...(close && { connection: 'close' }) });
    res.end(JSON.stringify({ error }));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const from = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    if (req.method !== 'POST' || req.url !== JOIN_PATH) return plain(res, 404, `no such endpoint: ${req.method} ${req.url}; joins are POST ${JOIN_PATH}`);
    const tooLarge = () => {
      reject('too-large', from, `body over ${MAX_JOIN_BODY} bytes`);
      // The rest of the body is not read: answer and close.
      plain(res, 413, `request body over ${MAX_JOIN_BODY} bytes`, true);
    };
    if (Number(req.headers['content-length'] ?? 0) > MAX_JOIN_BODY) return tooLarge();
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_JOIN_BODY) return tooLarge();
      chunks.push(chunk as Buffer);
    }
    const mac = req.headers[MAC_HEADER];
    const opened = openRequest(Buffer.concat(chunks), typeof mac === 'string' ? mac : undefined, o.commandSecret());
    if (!opened.ok) {
      reject(opened.reason, from, opened.detail);
      return plain(res, opened.reason === 'bad-mac' ? 401 : 400, opened.detail);
    }
    const { request, keys } = opened;
    const now = o.now();
    const base = { v: 1 as const, nonce: request.nonce, at: now };
    const refuse = (status: number, refusal: JoinRefusal, reason: string) => {
      o.count(`join-refused.${refusal}`);
      // Anyone can make a key and be refused: sampled too.
      if (sampled.allow(`refused.${refusal}`)) o.logger.warn({ from, name: request.name, reason }, 'join refused (sampled)');
      o.onEvent({ event: 'refused', name: request.name, role: request.role, reason, from });
      answer(res, keys, status, { ...base, status: 'refused', refusal, reason });
    };
    if (Math.abs(request.at - now) > o.freshnessMs) return refuse(409, 'stale', `the request's time is ${request.at - now} ms off the authority's`);
    if (seen.has(request.nonce)) return refuse(409, 'replayed', 'this request was seen before');
    remember(request.nonce);

    let token: string | undefined;
    if (request.token !== undefined) {
      token = openToken(keys, request.token);
      if (token === undefined) return refuse(400, 'bad-token', 'the sealed enrolment token does not open');
    }
    const admission: Admission = admit(o.pairing, { publicKey: request.publicKey, name: request.name, role: request.role, listen: request.listen, token, source: req.socket.remoteAddress }, o.policy);
    if (admission.status === 'refused') {
      const busy = admission.refusal === 'pool-exhausted' || admission.refusal === 'too-many-pending' || admission.refusal === 'too-many-pending-from-source';
      return refuse(busy ? 503 : 403, admission.refusal, admission.reason);
    }
    const { node } = admission;
    const who = { nodeId: node.id, name: node.name, role: node.role, address: node.address, from };
    if (admission.status === 'pending') {
      o.count('join-pending');
      if (admission.created) {
        o.logger.info({ ...who, code: formatCode(admission.code) }, 'join request pending: compare the code with the node and approve it');
        o.onEvent({ event: 'pending', ...who, code: formatCode(admission.code) });
      }
      return answer(res, keys, STATUS.pending, { ...base, status: 'pending', nodeId: node.id, code: admission.code });
    }
    o.beforeGrant();
    const membership = membershipFor(node, o.pairing.registry.nodes(), o.authority)!;
    o.count('join-granted');
    o.logger.info({ ...who, via: admission.via }, 'node admitted');
    o.onEvent({ event: 'granted', ...who, via: admission.via });
    answer(res, keys, STATUS.granted, { ...base, status: 'granted', membership, syncSeq: o.syncSeq() });
  };

  const server = createServer({
    maxHeaderSize: 8192,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    // How often Node checks the two deadlines above (its default, 30 s, would let them slip).
    connectionsCheckingInterval: Math.max(50, Math.min(1000, limits.headersTimeoutMs / 4)),
  }, (req, res) => {
    handle(req, res).catch((err) => {
      o.logger.error({ err: String(err) }, 'join request failed');
      if (!res.headersSent) plain(res, 500, 'internal error; see the admin node log');
    });
  });
  server.maxConnections = limits.maxConnections;
  server.on('drop', (data?: { remoteAddress?: string; remotePort?: number }) => reject('too-many-connections', `${data?.remoteAddress}:${data?.remotePort}`, `${limits.maxConnections} connections are open`));
  server.setTimeout(limits.idleMs, (socket: Socket) => {
    reject('idle', `${socket.remoteAddress}:${socket.remotePort}`, `no traffic for ${limits.idleMs} ms`);
    socket.destroy();
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const slow = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    reject(slow ? 'slow' : 'bad-http', `${socket.remoteAddress}:${socket.remotePort}`, err.code ?? err.message);
    if (!socket.writable) return socket.destroy();
    socket.end(slow ? 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n' : 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n', () => socket.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  return {
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
