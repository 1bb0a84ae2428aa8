// The host's control endpoint on loopback: `ppn status` and `ppn reload` talk to it. It asks for
// the bearer token kept in the instance directory, so only who can read that file may use it.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import type { Host } from './host.js';

export interface ControlEndpoint {
  port: number;
  close(): Promise<void>;
}

/** Written to the instance directory so local tools can find and use the control endpoint. */
export interface ControlFile {
  pid: number;
  url: string;
  token: string;
}

export const CONTROL_FILE = 'control.json';

export async function startControlServer(host: Host, port: number): Promise<ControlEndpoint> {
  const token = randomBytes(24).toString('base64url');
  const expected = Buffer.from(`Bearer ${token}`);
  const server: Server = createServer(async (req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body, null, 2));
    };
    const given = Buffer.from(req.headers.authorization ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return send(401, { error: 'missing or wrong control token' });
    if (req.method === 'GET' && req.url === '/status') return send(200, host.status());
    if (req.method === 'POST' && req.url === '/reload') {
      const result = await host.reload();
      return send(result.ok ? 200 : 422, result);
    }
    send(404, { error: `no such endpoint: ${req.method} ${req.url}` });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const bound = (server.address() as { port: number }).port;
  mkdirSync(host.instanceDir, { recursive: true, mode: 0o700 });
  const file: ControlFile = { pid: process.pid, url: `http://127.0.0.1:${bound}`, token };
  const path = join(host.instanceDir, CONTROL_FILE);
  writeFileSync(path, JSON.stringify(file), { mode: 0o600 });
  return {
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        rmSync(path, { force: true });
        server.close(() => resolve());
      }),
  };
}
