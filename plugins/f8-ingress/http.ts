// What every F8 answer shares: JSON bodies, the headers that keep a browser from misreading or
// framing them, and bounded request bodies.
import type { IncomingMessage, ServerResponse } from 'node:http';

export class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly extra: Record<string, unknown> = {}) {
    super(message);
  }
}

/** On every answer: the page may load only its own files and talk only to this server. */
export const securityHeaders = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
} as const;

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
  res.writeHead(status, { ...securityHeaders, 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw new HttpError(413, `request body over ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new HttpError(413, `request body over ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new HttpError(400, `malformed JSON: ${(err as Error).message}`);
  }
}

/** The most records one page of a listing holds. */
export const MAX_PAGE = 500;

/** `?limit=` of a listing: absent → `fallback`; anything but one whole number in 1..MAX_PAGE is refused. */
export function pageLimit(params: URLSearchParams, fallback: number): number {
  const given = params.getAll('limit');
  if (given.length === 0) return fallback;
  if (given.length > 1) throw new HttpError(400, 'limit is given more than once');
  const text = given[0];
  const shown = JSON.stringify(text.length > 24 ? `${text.slice(0, 24)}…` : text);
  if (!/^[0-9]+$/.test(text)) throw new HttpError(400, `limit must be a whole number from 1 to ${MAX_PAGE}, got ${shown}`);
  const n = Number(text);
  if (n < 1 || n > MAX_PAGE) throw new HttpError(400, `limit must be from 1 to ${MAX_PAGE} (the largest page), got ${shown}`);
  return n;
}

/** `?before=` of the command history: absent → undefined; once, a command id (`c<epoch>-<n>`), or refused. */
export function pageBefore(params: URLSearchParams): string | undefined {
  const given = params.getAll('before');
  if (given.length === 0) return undefined;
  if (given.length > 1) throw new HttpError(400, 'before is given more than once');
  const text = given[0];
  if (!/^c[0-9]{1,2}-[1-9][0-9]{0,19}$/.test(text)) {
    throw new HttpError(400, `before must be a command id such as c0-42, got ${JSON.stringify(text.length > 24 ? `${text.slice(0, 24)}…` : text)}`);
  }
  return text;
}
