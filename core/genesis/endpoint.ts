// Underlay endpoints ("a.b.c.d:port") as genesis messages carry them: IPv4 literals only, since
// the join path must work without DNS.
import { isIPv4 } from 'node:net';

export interface Endpoint {
  host: string;
  port: number;
}

export const ENDPOINT_PATTERN = '^\\d{1,3}(\\.\\d{1,3}){3}:\\d{1,5}$';

/** Parses "a.b.c.d:port"; throws RangeError naming `what` when it is not one. Port 0 only for a place to listen. */
export function parseEndpoint(text: string, what = 'endpoint', minPort = 1): Endpoint {
  const m = /^([0-9.]+):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || !isIPv4(m[1]) || port < minPort || port > 65535) {
    throw new RangeError(`${what} must be IPv4:port (for example 192.0.2.1:51820), got '${text}'`);
  }
  return { host: m[1], port };
}

export function formatEndpoint(e: Endpoint): string {
  return `${e.host}:${e.port}`;
}
