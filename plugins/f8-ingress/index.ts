// F8: the operator's terminal. A web page at / (web/), and the HTTP API behind it: POST
// /v1/intents turns text into an envelope for the router and answers from the envelope's outcome
// (draft, targets, counter, packets, or why not); GET /v1/events streams changes live. Its
// server is bounded (server-limits.ts, the event streams' caps) and answers junk, never crashes.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Observable } from 'rxjs';
import {
  checkSchema, DEFAULT_HEALTH_FALLBACK, defineStage, F8_PORT, GENESIS, HOST, loadOperatorPolicy, logSampler, MAIN_OPERATOR, MESH, NODE, nodeHealth, operatorForToken, REGISTRY,
  type DropReason, type Envelope, type IntentRequest, type Outcome, type Registry, type RegistryNode,
} from '../../core/sdk/index.js';
import { createEventFeed, createEventStreams, type StreamLimits } from './event-feed.js';
import { HttpError, pageBefore, pageLimit, readJsonBody, sendJson as send } from './http.js';
import { servePageFile } from './page-files.js';
import { applyServerLimits, SERVER_LIMITS_SCHEMA, serverOptions, type ServerLimits } from './server-limits.js';
import { loadOrCreateToken, tokenChecker } from './token.js';

interface Config extends ServerLimits {
  host: string;
  port: number;
  maxBodyBytes: number;
  replyTimeoutMs: number;
  events: StreamLimits;
  /** How many refusals of each kind are logged each minute; all are counted. */
  logPerMinute: number;
  /**
   * Health of nodes that send no telemetry reports, by the age of their last ack: up, stale, down
   * (a node that reports is judged by its own interval: stale after 3, down after 10).
   */
  health: { staleAfterMs: number; downAfterMs: number };
}

const intentSchema = {
  type: 'object',
  required: ['text'],
  additionalProperties: false,
  properties: {
    text: { type: 'string', minLength: 1, maxLength: 2000 },
    dryRun: { type: 'boolean', default: false },
    confirm: { type: 'boolean', default: false },
  },
};

export default defineStage<Config>({
  type: 'f8-ingress',
  kind: 'source',
  description: 'The F8 HTTP terminal: operators post plain-language intents with a bearer token; answers with the signed command or why not',
  services: [NODE, REGISTRY, GENESIS, MESH, HOST],
  configSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      host: { type: 'string', format: 'ipv4', default: '127.0.0.1' },
      port: { type: 'integer', minimum: 0, maximum: 65535, default: F8_PORT },
      maxBodyBytes: { type: 'integer', minimum: 256, maximum: 1 << 20, default: 16 * 1024 },
      replyTimeoutMs: { type: 'integer', minimum: 100, default: 15_000 },
      ...SERVER_LIMITS_SCHEMA,
      events: {
        type: 'object',
        additionalProperties: false,
        default: {},
        properties: {
          maxStreams: { type: 'integer', minimum: 1, maximum: 4096, default: 32 },
          maxBufferedBytes: { type: 'integer', minimum: 1024, default: 1 << 20 },
          stallMs: { type: 'integer', minimum: 100, default: 30_000 },
          keepAliveMs: { type: 'integer', minimum: 100, default: 15_000 },
        },
      },
      logPerMinute: { type: 'integer', minimum: 0, default: 20 },
      health: {
        type: 'object',
        additionalProperties: false,
        default: {},
        description: 'for nodes without telemetry reports: last heard within staleAfterMs is up, within downAfterMs stale, longer ago down',
        properties: {
          staleAfterMs: { type: 'integer', minimum: 1000, default: DEFAULT_HEALTH_FALLBACK.staleAfterMs },
          downAfterMs: { type: 'integer', minimum: 1000, default: DEFAULT_HEALTH_FALLBACK.downAfterMs },
        },
      },
    },
  },
  ports: (c) => (c.port === 0 ? [] : [`tcp:${c.host}:${c.port}`]),
  async create(ctx, config) {
    const node = ctx.services.get(NODE);
    const registry = ctx.services.get(REGISTRY);
    const genesis = ctx.services.get(GENESIS);
    const mesh = ctx.services.get(MESH);
    const host = ctx.services.get(HOST);
    if (config.health.downAfterMs <= config.health.staleAfterMs) throw new Error('health.downAfterMs must be longer than health.staleAfterMs');
    /** The router stage this node runs, and its backend (catalog, ollama or cascade), from its own status. */
    const router = () => {
      const [id, stage] = Object.entries(host.status().stages).find(([, s]) => s.type === 'slm-router') ?? [];
      return stage ? { stage: id, state: stage.state, backend: stage.details?.backend ?? null } : null;
    };
    /** What this node's mesh knows of each peer's path (userspace meshes; docs/nat.md), by name. */
    const pathsByName = () => {
      const peers = (mesh.status().paths as { peers?: { name: string }[] } | undefined)?.peers ?? [];
      return new Map(peers.map(({ name, ...path }) => [name, path]));
    };
    const authorized = tokenChecker(loadOrCreateToken(node.instanceDir));
    let emit: ((env: Envelope) => void) | undefined;

    const submit = (request: IntentRequest) =>
      new Promise<Outcome>((resolve, reject) => {
        if (!emit) return reject(new HttpError(503, 'the pipeline is not accepting intents right now'));
        const timer = setTimeout(() => reject(new HttpError(504, `no outcome within ${config.replyTimeoutMs} ms`)), config.replyTimeoutMs);
        emit(ctx.envelope('intent', request, { via: 'f8' }, (_env, outcome) => {
          clearTimeout(timer);
          resolve(outcome);
        }));
      });

    const count = (what: string) => ctx.metrics.count(what);
    const sampler = logSampler(config.logPerMinute);
    /** The operator the bearer token names: F8's own token, or one of operators.json (the signer checks its grant). */
    const operatorOf = (authorization: string | undefined): string | undefined => {
      if (authorized(authorization)) return MAIN_OPERATOR;
      const token = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1];
      if (!token) return undefined;
      try {
        return operatorForToken(loadOperatorPolicy(node.instanceDir), token);
      } catch (err) {
        count('refused.operator-policy-unreadable');
        if (sampler.allow('operator-policy')) ctx.logger.error({ err: (err as Error).message }, 'operator policy unreadable: only the F8 token is accepted');
        return undefined;
      }
    };
    /** A node as the API and the page show it: with its health (heartbeat age against its interval) and this node's path to it. */
    const present = (n: RegistryNode, paths = pathsByName()) => ({
      ...n,
      health: nodeHealth(n, Date.now(), config.health),
      ...(paths.has(n.name) && { path: paths.get(n.name) }),
    });
    const feed = createEventFeed(registry, Date.now, (n) => present(n));
    const streams = createEventStreams(feed, config.events, count);

    const requestUrl = (req: IncomingMessage): URL => {
      try {
        return new URL(req.url ?? '/', 'http://f8');
      } catch {
        // Refused before the token is looked at: nothing can be routed, so nothing is revealed.
        count('refused.bad-target');
        if (sampler.allow('bad-target')) ctx.logger.warn({ from: req.socket.remoteAddress, target: String(req.url).slice(0, 80) }, 'F8 request refused: malformed request target');
        throw new HttpError(400, 'malformed request target');
      }
    };

    const handle = async (req: IncomingMessage, res: ServerResponse) => {
      const url = requestUrl(req);
      if (req.method === 'GET' && url.pathname === '/healthz') return send(res, 200, { ok: true, accepting: emit !== undefined });
      // The page's own files need no token: signing in happens on the page.
      if (!url.pathname.startsWith('/v1/')) {
        if (req.method === 'GET' && (await servePageFile(url.pathname, res))) return;
        throw new HttpError(404, 'not found');
      }
      const actor = operatorOf(req.headers.authorization);
      if (!actor) throw new HttpError(401, 'missing or wrong bearer token');
      if (req.method === 'POST' && url.pathname === '/v1/intents') {
        const body = await readJsonBody(req, config.maxBodyBytes);
        const problems = checkSchema(intentSchema, body);
        if (problems.length) throw new HttpError(400, 'invalid request', { problems });
        const request = { ...(body as Omit<IntentRequest, 'actor'>), actor };
        return answer(res, await submit(request), registry);
      }
      if (req.method === 'GET' && url.pathname === '/v1/events') {
        if (!streams.open(res)) throw new HttpError(503, `too many event streams open (${config.events.maxStreams}); close one and retry`);
        return;
      }
      if (req.method === 'GET' && url.pathname === '/v1/nodes') {
        const paths = pathsByName();
        const codes = genesis.joinCodes();
        return send(res, 200, {
          nodes: registry.nodes().map((n) => ({ ...present(n, paths), ...(n.status === 'pending' && codes.has(n.id) && { code: codes.get(n.id) }) })),
        });
      }
      if (req.method === 'GET' && url.pathname === '/v1/status') {
        return send(res, 200, { authority: node.membership.nodeId, router: router(), health: config.health });
      }
      const routed = await genesis.nodeRoute(req.method ?? '', url.pathname, () => readJsonBody(req, config.maxBodyBytes));
      if (routed) return send(res, routed.status, routed.body);
      if (req.method === 'GET' && url.pathname === '/v1/commands') {
        let limit: number;
        let before: string | undefined;
        try {
          limit = pageLimit(url.searchParams, 50);
          before = pageBefore(url.searchParams);
        } catch (err) {
          count('refused.bad-query');
          throw err;
        }
        // One more than asked tells whether an older page exists.
        const page = before === undefined ? registry.commands(limit + 1) : registry.commandsBefore(before, limit + 1);
        if (!page) {
          count('refused.bad-query');
          throw new HttpError(400, `before names no command: ${before}`);
        }
        const commands = page.slice(0, limit);
        return send(res, 200, { commands, ...(page.length > limit && { next: commands[commands.length - 1].id }) });
      }
      const match = /^\/v1\/commands\/([a-z0-9-]{1,40})$/.exec(url.pathname);
      if (req.method === 'GET' && match) {
        const command = registry.command(match[1]);
        if (!command) throw new HttpError(404, `no command ${match[1]}`);
        return send(res, 200, command);
      }
      throw new HttpError(404, `no such endpoint: ${req.method} ${url.pathname}`);
    };

    const server = createServer(serverOptions(config), (req, res) => {
      handle(req, res).catch((err) => {
        if (err instanceof HttpError) return send(res, err.status, { error: err.message, ...err.extra });
        ctx.logger.error({ err: String(err) }, 'F8 request failed');
        send(res, 500, { error: 'internal error; see the admin node log' });
      });
    });
    applyServerLimits(server, config, { count, logger: ctx.logger, sampled: (key) => sampler.allow(key) });
    let connections = 0;
    server.on('connection', (socket) => {
      connections++;
      socket.once('close', () => connections--);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => resolve());
    }).catch((err) => {
      feed.close();
      throw err;
    });
    const port = (server.address() as { port: number }).port;
    ctx.logger.info({ url: `http://${config.host}:${port}/` }, 'F8 terminal listening');

    return {
      connect: () =>
        new Observable<Envelope>((subscriber) => {
          emit = (env) => subscriber.next(env);
          return () => (emit = undefined);
        }),
      close: () =>
        new Promise<void>((resolve) => {
          streams.closeAll();
          feed.close();
          server.close(() => resolve());
          server.closeAllConnections();
        }),
      status: () => ({ url: `http://${config.host}:${port}/`, connections, eventStreams: streams.status() }),
    };
  },
});

function answer(res: ServerResponse, outcome: Outcome, registry: Registry): void {
  const detail = outcome.detail ?? {};
  if (outcome.status === 'delivered') {
    if (detail.dryRun) return send(res, 200, detail);
    if (typeof detail.id !== 'string') return send(res, 500, { error: 'the intent reached no signer (check the admin pipeline)' });
    const record = registry.command(detail.id);
    return send(res, 200, { ...detail, targets: record?.targets ?? detail.targets });
  }
  if (outcome.status === 'failed') return send(res, 500, { error: outcome.error });
  switch (outcome.reason as DropReason) {
    case 'abstained': {
      const a = detail.abstention as { reason: string; explanation: string; suggestions: string[] };
      return send(res, 422, { error: 'the router abstained', reason: a.reason, explanation: a.explanation, suggestions: a.suggestions });
    }
    case 'needs-confirm':
      return send(res, 409, { error: 'this intent must be confirmed: send it again with "confirm": true', ...detail });
    case 'no-targets':
      return send(res, 422, { error: detail.error, draft: detail.draft });
    case 'scope-refused':
      return send(res, 422, { error: 'not sent: the text refuses this draft', reason: detail.reason, explanation: detail.explanation, draft: detail.draft });
    case 'not-permitted':
      return send(res, 403, { error: 'not sent: this operator may not send it', reason: detail.reason, explanation: detail.explanation });
    case 'storage-full':
      return send(res, 507, { error: "not sent: the admin's disk is full (nothing was signed or recorded); free space and send it again" });
    default:
      return send(res, 403, { error: `not sent: ${outcome.reason}` });
  }
}
