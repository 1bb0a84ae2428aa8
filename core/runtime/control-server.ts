// The host's control endpoint on loopback: `ppn status` and `ppn reload` talk to it. It asks for
// the bearer token kept in the instance directory, so only who can read that file may use it.
// Whoever else can reach loopback may still connect: connections are capped, idle and slow ones
// are closed, bodies are bounded, and every refusal is counted (shown in the status).
// GET /metrics answers Prometheus text. For a scraper on another machine, `scrape` opens a second
// listener that serves only /metrics: from loopback without a token, from elsewhere with the
// bearer token in the instance directory's metrics.token (stable across restarts, 0600).
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import type { Host } from './host.js';
import type { NodeMetrics } from './node-metrics.js';

export interface ControlEndpoint {
  port: number;
  /** The scrape listener's port, when one was asked for. */
  scrapePort?: number;
  /** Refusals by reason: what a caller that got no answer ran into. */
  refusals(): Record<ControlRefusal, number>;
  /** Removes the control file (a failure, e.g. a read-only disk, is returned, not thrown) and closes. */
  close(): Promise<{ fileLeft?: string }>;
}

export type ControlRefusal = 'connection-cap' | 'idle' | 'slow-request' | 'body-too-large' | 'unauthorized' | 'no-such-endpoint';

export interface ControlLimits {
  /** Open connections at once; more are closed on arrival. */
  maxConnections: number;
  /** A connection with no request in progress is closed after this long. */
  idleTimeoutMs: number;
  /** Headers and body of one request must have arrived by then. */
  requestTimeoutMs: number;
  maxBodyBytes: number;
}

export const CONTROL_LIMITS: ControlLimits = { maxConnections: 16, idleTimeoutMs: 10_000, requestTimeoutMs: 5_000, maxBodyBytes: 4096 };

/** Written to the instance directory so local tools can find and use the control endpoint. */
export interface ControlFile {
  pid: number;
  url: string;
  token: string;
}

export const CONTROL_FILE = 'control.json';

export interface ControlOptions {
  port: number;
  limits?: Partial<ControlLimits>;
  /** More figures for GET /status beside the host's (e.g. the log's drops). */
  extraStatus?: () => Record<string, unknown>;
  /** Also serve GET /metrics on this address (`host:port`), for a Prometheus elsewhere. */
  scrape?: { host: string; port: number };
}

export const METRICS_TOKEN_FILE = 'metrics.token';

export async function startControlServer(host: Host, options: ControlOptions): Promise<ControlEndpoint> {
  const limits = { ...CONTROL_LIMITS, ...options.limits };
  const token = randomBytes(24).toString('base64url');
  const expected = Buffer.from(`Bearer ${token}`);
  const refused: Record<ControlRefusal, number> = { 'connection-cap': 0, idle: 0, 'slow-request': 0, 'body-too-large': 0, unauthorized: 0, 'no-such-endpoint': 0 };
  const server: Server = createServer(
    {
      requestTimeout: limits.requestTimeoutMs,
      headersTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.idleTimeoutMs,
      // How often Node checks the two timeouts above (its default, 30 s, would let them overrun).
      connectionsCheckingInterval: Math.max(10, Math.min(1000, limits.requestTimeoutMs / 4)),
    },
    async (req, res) => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body, null, 2));
      };
      const refuse = (reason: ControlRefusal, status: number, error: string) => {
        refused[reason]++;
        send(status, { error });
      };
      if (!(await bodyWithin(req, limits.maxBodyBytes))) {
        res.setHeader('connection', 'close');
        return refuse('body-too-large', 413, `request body over ${limits.maxBodyBytes} bytes`);
      }
      const given = Buffer.from(req.headers.authorization ?? '');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return refuse('unauthorized', 401, 'missing or wrong control token');
      if (req.method === 'GET' && req.url === '/status') {
        return send(200, { ...host.status(), control: { refusals: { ...refused } }, ...options.extraStatus?.() });
      }
      if (req.method === 'GET' && req.url === '/metrics') return sendMetrics(host.metrics, res);
      if (req.method === 'POST' && req.url === '/reload') {
        const result = await host.reload();
        return send(result.ok ? 200 : 422, result);
      }
      const action = req.method === 'POST' ? /^\/services\/([\w-]+)\/([\w-]+)$/.exec(req.url ?? '') : null;
      const running = action ? host.serviceAction(action[1], action[2]) : undefined;
      if (running) {
        try {
          return send(200, await running);
        } catch (err) {
          return send(409, { error: (err as Error).message });
        }
      }
      refuse('no-such-endpoint', 404, `no such endpoint: ${req.method} ${req.url}`);
    },
  );
  server.maxConnections = limits.maxConnections;
  server.on('drop', () => refused['connection-cap']++);
  // A connection silent from the start (no request ever) is closed as idle too.
  server.on('connection', (socket: Socket) => {
    socket.setTimeout(limits.idleTimeoutMs, () => {
      refused.idle++;
      socket.destroy();
    });
  });
  // A request whose headers or body did not arrive in time: Node answers 408 and closes.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const slow = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    if (slow) refused['slow-request']++;
    if (socket.writable) socket.end(`HTTP/1.1 ${slow ? '408 Request Timeout' : '400 Bad Request'}\r\nconnection: close\r\n\r\n`);
    socket.destroy();
  });
  await listen(server, options.port, '127.0.0.1');
  const bound = (server.address() as { port: number }).port;
  mkdirSync(host.instanceDir, { recursive: true, mode: 0o700 });
  let scrape: Server | undefined;
  if (options.scrape) {
    scrape = scrapeServer(host, limits, loadOrCreateToken(join(host.instanceDir, METRICS_TOKEN_FILE)), refused);
    try {
      await listen(scrape, options.scrape.port, options.scrape.host);
    } catch (err) {
      server.close();
      throw new Error(`cannot serve metrics on ${options.scrape.host}:${options.scrape.port}: ${(err as Error).message}`);
    }
  }
  const file: ControlFile = { pid: process.pid, url: `http://127.0.0.1:${bound}`, token };
  const path = join(host.instanceDir, CONTROL_FILE);
  // Whole or not at all: a tool (or test) watching for the file must never read half of it.
  writeFileSync(`${path}.tmp`, JSON.stringify(file), { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
  return {
    port: bound,
    ...(scrape && { scrapePort: (scrape.address() as { port: number }).port }),
    refusals: () => ({ ...refused }),
    close: () =>
      new Promise((resolve) => {
        let fileLeft: string | undefined;
        try {
          rmSync(path, { force: true });
        } catch (err) {
          fileLeft = `${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
        }
        scrape?.closeAllConnections();
        scrape?.close();
        server.closeAllConnections();
        server.close(() => resolve(fileLeft ? { fileLeft } : {}));
      }),
  };
}

function listen(server: Server, port: number, address: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => (server.off('error', reject), resolve()));
  });
}

async function sendMetrics(metrics: NodeMetrics, res: import('node:http').ServerResponse): Promise<void> {
  const text = await metrics.text();
  res.writeHead(200, { 'content-type': metrics.contentType });
  res.end(text);
}

/** The scrape listener: GET /metrics only, with the control endpoint's limits. */
function scrapeServer(host: Host, limits: ControlLimits, token: string, refused: Record<ControlRefusal, number>): Server {
  const expected = Buffer.from(`Bearer ${token}`);
  const server = createServer({ requestTimeout: limits.requestTimeoutMs, headersTimeout: limits.requestTimeoutMs, keepAliveTimeout: limits.idleTimeoutMs }, (req, res) => {
    const fromLoopback = /^(127\.|::1$|::ffff:127\.)/.test(req.socket.remoteAddress ?? '');
    const given = Buffer.from(req.headers.authorization ?? '');
    if (!fromLoopback && (given.length !== expected.length || !timingSafeEqual(given, expected))) {
      refused.unauthorized++;
      res.writeHead(401, { 'content-type': 'text/plain' }).end(`metrics from another machine need the bearer token in ${METRICS_TOKEN_FILE}\n`);
      return;
    }
    if (req.method !== 'GET' || req.url !== '/metrics') {
      refused['no-such-endpoint']++;
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics is served here\n');
      return;
    }
    sendMetrics(host.metrics, res).catch(() => res.destroy());
  });
  server.maxConnections = limits.maxConnections;
  server.on('drop', () => refused['connection-cap']++);
  server.on('connection', (socket: Socket) => socket.setTimeout(limits.idleTimeoutMs, () => (refused.idle++, socket.destroy())));
  server.on('clientError', (_err, socket: Socket) => socket.destroy());
  return server;
}

/** The scrape token: made once, kept, so a Prometheus configured with it keeps working. */
function loadOrCreateToken(path: string): string {
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  const token = randomBytes(24).toString('base64url');
  writeFileSync(path, `${token}\n`, { mode: 0o600 });
  return token;
}

/** Reads the request body, if any; false (and the rest left unread) once it is over `limit`. */
function bodyWithin(req: import('node:http').IncomingMessage, limit: number): Promise<boolean> {
  return new Promise((resolve) => {
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.pause();
        resolve(false);
      }
    });
    req.on('end', () => resolve(true));
    req.on('error', () => resolve(false));
  });
}
