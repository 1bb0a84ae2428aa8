// Underlay endpoints ("a.b.c.d:port"), the one parser: WireGuard peers, membership files, join
// requests, claims and the CLI all accept exactly the same texts. IPv4 literals only, since the
// join path must work without DNS. ENDPOINT_PATTERN (for JSON schemas) and parseEndpoint accept
// the same set, so a text a schema lets through always parses.
export interface Endpoint {
  host: string;
  port: number;
}

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const PORT = '(?:6553[0-5]|655[0-2]\\d|65[0-4]\\d\\d|6[0-4]\\d{3}|[1-5]\\d{4}|[1-9]\\d{0,3})';
const HOST = `${OCTET}(?:\\.${OCTET}){3}`;

/** An endpoint with a port in 1..65535. */
export const ENDPOINT_PATTERN = `^${HOST}:${PORT}$`;
/** A place to listen: as ENDPOINT_PATTERN, or port 0 for "any free port". */
export const LISTEN_PATTERN = `^${HOST}:(?:0|${PORT})$`;

const ENDPOINT = new RegExp(`^(${HOST}):(${PORT})$`);
const LISTEN = new RegExp(`^(${HOST}):(0|${PORT})$`);

export class EndpointError extends RangeError {
  override name = 'EndpointError';
}

function parse(re: RegExp, text: string, what: string): Endpoint {
  const m = re.exec(text);
  if (!m) throw new EndpointError(`${what} must be IPv4:port (for example 192.0.2.1:51820), got '${text}'`);
  return { host: m[1], port: Number(m[2]) };
}

/** Parses "a.b.c.d:port" (port 1..65535); throws EndpointError naming `what` otherwise. */
export function parseEndpoint(text: string, what = 'endpoint'): Endpoint {
  return parse(ENDPOINT, text, what);
}

/** Parses a place to listen, "a.b.c.d:port" where port 0 means any free port. */
export function parseListen(text: string, what = 'listen'): Endpoint {
  return parse(LISTEN, text, what);
}

export function formatEndpoint(e: Endpoint): string {
  return `${e.host}:${e.port}`;
}
