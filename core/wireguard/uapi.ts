// A client for the cross-platform UAPI of wireguard-go (https://www.wireguard.com/xplatform/):
// `set=1` / `get=1` over the unix socket /var/run/wireguard/IFACE.sock. Keys there are hex, not
// base64, and every answer ends with "errno=N" and a blank line. Used to drive stock peers in
// tests and benches, and by an OS-mode mesh to configure its interface.
import { connect } from 'node:net';
import { join } from 'node:path';

/** The UAPI's key encoding. */
const hex = (key: Uint8Array) => Buffer.from(key).toString('hex');

export const UAPI_DIR = '/var/run/wireguard';

export function uapiSocketPath(iface: string, dir = UAPI_DIR): string {
  return join(dir, `${iface}.sock`);
}

/** Sends one request (its lines, without the trailing blank line) and returns the answer's lines. */
export function uapiRequest(iface: string, lines: string[], opts: { dir?: string; timeoutMs?: number } = {}): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const sock = connect(uapiSocketPath(iface, opts.dir));
    let answer = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`UAPI ${iface}: no answer within ${opts.timeoutMs ?? 5000} ms`));
    }, opts.timeoutMs ?? 5000);
    sock.on('error', (err) => { clearTimeout(timer); reject(err); });
    sock.on('data', (chunk) => {
      answer += chunk.toString('utf8');
      if (!answer.endsWith('\n\n')) return;
      clearTimeout(timer);
      sock.end();
      const out = answer.trimEnd().split('\n');
      const errno = out.pop();
      if (errno !== 'errno=0') reject(new Error(`UAPI ${iface}: ${errno ?? 'no errno'}`));
      else resolve(out);
    });
    sock.write(`${lines.join('\n')}\n\n`);
  });
}

export interface UapiPeer {
  publicKey: Uint8Array;
  presharedKey?: Uint8Array;
  endpoint?: string;
  allowedIPs?: string[];
  persistentKeepalive?: number;
}

export interface UapiConfig {
  privateKey?: Uint8Array;
  listenPort?: number;
  replacePeers?: boolean;
  peers?: UapiPeer[];
}

/** Applies a configuration with `set=1`. */
export async function uapiSet(iface: string, c: UapiConfig, opts?: { dir?: string }): Promise<void> {
  const lines = ['set=1'];
  if (c.privateKey) lines.push(`private_key=${hex(c.privateKey)}`);
  if (c.listenPort !== undefined) lines.push(`listen_port=${c.listenPort}`);
  if (c.replacePeers) lines.push('replace_peers=true');
  for (const p of c.peers ?? []) {
    lines.push(`public_key=${hex(p.publicKey)}`);
    if (p.presharedKey) lines.push(`preshared_key=${hex(p.presharedKey)}`);
    if (p.endpoint) lines.push(`endpoint=${p.endpoint}`);
    if (p.persistentKeepalive !== undefined) lines.push(`persistent_keepalive_interval=${p.persistentKeepalive}`);
    if (p.allowedIPs) lines.push('replace_allowed_ips=true', ...p.allowedIPs.map((a) => `allowed_ip=${a}`));
  }
  await uapiRequest(iface, lines, opts);
}

/** Reads the device with `get=1`: interface keys, then one record per peer (keys as the UAPI names them). */
export async function uapiGet(iface: string, opts?: { dir?: string }): Promise<{ device: Record<string, string>; peers: Record<string, string>[] }> {
  const device: Record<string, string> = {};
  const peers: Record<string, string>[] = [];
  for (const line of await uapiRequest(iface, ['get=1'], opts)) {
    const eq = line.indexOf('=');
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (key === 'public_key') peers.push({});
    const target = peers.length ? peers[peers.length - 1] : device;
    // allowed_ip repeats; keep them all, comma-separated.
    target[key] = key in target ? `${target[key]},${value}` : value;
  }
  return { device, peers };
}
