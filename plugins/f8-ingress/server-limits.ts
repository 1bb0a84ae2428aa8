// What keeps F8 up against clients that connect and wait, send slowly or send junk: a cap on
// connections, timeouts for headers, the whole request, idle keep-alive and idle sockets, and an
// answer (never a crash, never a log line per attempt) to every malformed request. Each refusal
// is counted by kind; the log sees a sampled few.
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';

export interface ServerLimits {
  maxConnections: number;
  /** Time to receive a request's headers. */
  headersTimeoutMs: number;
  /** Time to receive a whole request, body included. */
  requestTimeoutMs: number;
  /** How long a kept-alive connection may wait for its next request. */
  keepAliveTimeoutMs: number;
  /** A socket with no traffic either way this long is closed (event streams send keep-alives). */
  idleTimeoutMs: number;
  maxHeaderBytes: number;
}

export const SERVER_LIMITS_SCHEMA = {
  maxConnections: { type: 'integer', minimum: 1, maximum: 65_536, default: 256 },
  headersTimeoutMs: { type: 'integer', minimum: 100, default: 10_000 },
  requestTimeoutMs: { type: 'integer', minimum: 100, default: 30_000 },
  keepAliveTimeoutMs: { type: 'integer', minimum: 100, default: 5_000 },
  idleTimeoutMs: { type: 'integer', minimum: 100, default: 60_000 },
  maxHeaderBytes: { type: 'integer', minimum: 1024, maximum: 65_536, default: 8192 },
} as const;

/** Options only createServer() takes: how often timeouts are checked, the header size limit. */
export function serverOptions(limits: ServerLimits) {
  return {
    maxHeaderSize: limits.maxHeaderBytes,
    connectionsCheckingInterval: Math.max(50, Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) / 4),
  };
}

const CLIENT_ERRORS: Record<string, { kind: string; status: number; text: string }> = {
  ERR_HTTP_REQUEST_TIMEOUT: { kind: 'request-timeout', status: 408, text: 'Request Timeout' },
  HPE_HEADER_OVERFLOW: { kind: 'header-too-large', status: 431, text: 'Request Header Fields Too Large' },
};
const BAD_REQUEST = { kind: 'bad-request', status: 400, text: 'Bad Request' };

export function applyServerLimits(
  server: Server,
  limits: ServerLimits,
  hooks: { count(what: string): void; logger: Logger; sampled(key: string): boolean },
): void {
  server.maxConnections = limits.maxConnections;
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.on('drop', (data?: { remoteAddress?: string }) => {
    hooks.count('refused.connection-cap');
    if (hooks.sampled('connection-cap')) hooks.logger.warn({ from: data?.remoteAddress, maxConnections: limits.maxConnections }, 'F8 connection refused: too many open');
  });
  server.setTimeout(limits.idleTimeoutMs, (socket: Socket) => {
    hooks.count('closed.idle');
    socket.destroy();
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      hooks.count('closed.client-reset');
      return socket.destroy();
    }
    const e = CLIENT_ERRORS[err.code ?? ''] ?? BAD_REQUEST;
    hooks.count(`refused.${e.kind}`);
    if (hooks.sampled(e.kind)) hooks.logger.warn({ from: socket.remoteAddress, reason: e.kind, code: err.code }, 'F8 request refused');
    socket.end(`HTTP/1.1 ${e.status} ${e.text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });
}
