// wg-quick style configuration files ([Interface] and [Peer] sections of `Key = Value` lines),
// parsed with errors that name the file and line. Keys are case-insensitive, as in wg-quick.
// Keys that only matter to wg-quick on a real interface (DNS, Table, PostUp, ...) are reported
// back as ignored rather than rejected, so the same file can serve both modes. `formatWgQuick`
// writes such files (`ppn wg-config`).
import { parsePrefix } from './allowed-ips.js';
import { parseIPv4 } from './ipv4.js';
import { formatKey, parseKey } from '../keys/index.js';

export interface InterfaceSection {
  privateKey: Uint8Array;
  /** The node's virtual IPv4 address (prefix length dropped). */
  address: string;
  listenPort?: number;
  mtu?: number;
}

export interface PeerSection {
  publicKey: Uint8Array;
  presharedKey?: Uint8Array;
  allowedIPs: string[];
  /** "host:port" as written; the host may be a name to resolve. */
  endpoint?: { host: string; port: number };
  persistentKeepalive?: number;
  line: number;
}

export interface WgQuickConfig {
  interface: InterfaceSection;
  peers: PeerSection[];
  /** Lines understood by wg-quick that a userspace endpoint does not use. */
  ignored: { line: number; key: string }[];
}

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly file: string, readonly line: number, message: string) {
    super(`${file}:${line}: ${message}`);
  }
}

const WG_QUICK_ONLY = new Set(['dns', 'table', 'preup', 'postup', 'predown', 'postdown', 'saveconfig', 'fwmark']);

function port(value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) throw new Error(`not a port number: ${JSON.stringify(value)}`);
  return Number(value);
}

function parseEndpointText(value: string): { host: string; port: number } {
  if (value.startsWith('[')) throw new Error('IPv6 endpoints are not supported by the userspace endpoint');
  const i = value.lastIndexOf(':');
  if (i <= 0) throw new Error(`endpoint must be host:port, got ${JSON.stringify(value)}`);
  const host = value.slice(0, i);
  if (!parseIPv4(host) && !/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(host)) {
    throw new Error(`not an IPv4 address or host name: ${JSON.stringify(host)}`);
  }
  const p = port(value.slice(i + 1));
  if (p === 0) throw new Error('endpoint port cannot be 0');
  return { host, port: p };
}

function list(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

export function parseWgQuick(text: string, file = 'config'): WgQuickConfig {
  type Section = { kind: 'interface' | 'peer'; line: number; values: Map<string, { value: string; line: number }[]> };
  const sections: Section[] = [];
  const ignored: { line: number; key: string }[] = [];
  let current: Section | undefined;

  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const content = raw.replace(/#.*$/, '').trim();
    if (content === '') return;
    const header = /^\[(\w+)\]$/.exec(content);
    if (header) {
      const kind = header[1].toLowerCase();
      if (kind !== 'interface' && kind !== 'peer') throw new ConfigError(file, line, `unknown section [${header[1]}]`);
      if (kind === 'interface' && sections.some((s) => s.kind === 'interface')) {
        throw new ConfigError(file, line, 'a second [Interface] section');
      }
      current = { kind, line, values: new Map() };
      sections.push(current);
      return;
    }
    const eq = content.indexOf('=');
    if (eq <= 0) throw new ConfigError(file, line, `expected "Key = Value" or a [Section], got ${JSON.stringify(content)}`);
    if (!current) throw new ConfigError(file, line, 'a setting before any [Interface] or [Peer] section');
    const key = content.slice(0, eq).trim().toLowerCase();
    const value = content.slice(eq + 1).trim();
    const entries = current.values.get(key) ?? [];
    entries.push({ value, line });
    current.values.set(key, entries);
  });

  function take(s: Section, allowed: Record<string, (value: string) => void>, repeatable: string[] = []): void {
    for (const [key, entries] of s.values) {
      const handle = allowed[key];
      if (!handle) {
        if (s.kind === 'interface' && WG_QUICK_ONLY.has(key)) {
          entries.forEach((e) => ignored.push({ line: e.line, key }));
          continue;
        }
        throw new ConfigError(file, entries[0].line, `unknown key "${key}" in [${s.kind === 'interface' ? 'Interface' : 'Peer'}]`);
      }
      if (entries.length > 1 && !repeatable.includes(key)) throw new ConfigError(file, entries[1].line, `"${key}" given twice`);
      for (const e of entries) {
        try {
          handle(e.value);
        } catch (err) {
          throw new ConfigError(file, e.line, `${key}: ${(err as Error).message}`);
        }
      }
    }
  }

  const iface = sections.find((s) => s.kind === 'interface');
  if (!iface) throw new ConfigError(file, 1, 'no [Interface] section');
  let privateKey: Uint8Array | undefined;
  let address: string | undefined;
  let listenPort: number | undefined;
  let mtu: number | undefined;
  take(iface, {
    privatekey: (v) => { privateKey = parseKey(v); },
    address: (v) => {
      for (const a of list(v)) {
        const prefix = parsePrefix(a);
        if (prefix.bytes.length !== 4) continue; // IPv6 is not carried; its address is harmless
        if (address) throw new Error('only one IPv4 address is supported');
        address = a.split('/')[0];
      }
    },
    listenport: (v) => { listenPort = port(v); },
    mtu: (v) => {
      if (!/^\d+$/.test(v) || Number(v) < 576 || Number(v) > 65535) throw new Error('must be 576..65535');
      mtu = Number(v);
    },
  }, ['address']);
  if (!privateKey) throw new ConfigError(file, iface.line, '[Interface] has no PrivateKey');
  if (!address) throw new ConfigError(file, iface.line, '[Interface] has no IPv4 Address');

  const peers: PeerSection[] = [];
  for (const s of sections.filter((x) => x.kind === 'peer')) {
    const peer: Partial<PeerSection> & { allowedIPs: string[]; line: number } = { allowedIPs: [], line: s.line };
    take(s, {
      publickey: (v) => { peer.publicKey = parseKey(v); },
      presharedkey: (v) => { peer.presharedKey = parseKey(v); },
      allowedips: (v) => {
        for (const a of list(v)) {
          parsePrefix(a);
          peer.allowedIPs.push(a);
        }
      },
      endpoint: (v) => { peer.endpoint = parseEndpointText(v); },
      persistentkeepalive: (v) => {
        if (v === 'off') return;
        if (!/^\d+$/.test(v) || Number(v) > 65535) throw new Error('must be off or 0..65535 seconds');
        peer.persistentKeepalive = Number(v);
      },
    }, ['allowedips']);
    if (!peer.publicKey) throw new ConfigError(file, s.line, '[Peer] has no PublicKey');
    if (peers.some((p) => Buffer.compare(p.publicKey, peer.publicKey!) === 0)) {
      throw new ConfigError(file, s.line, 'the same PublicKey in two [Peer] sections');
    }
    peers.push(peer as PeerSection);
  }
  return { interface: { privateKey, address, listenPort, mtu }, peers, ignored };
}

export interface WgQuickPeerOut {
  /** A comment line above the section (names the peer; never a secret). */
  comment?: string;
  publicKey: Uint8Array;
  allowedIPs: string[];
  endpoint?: string;
  persistentKeepalive?: number;
}

export interface WgQuickOut {
  comment?: string;
  privateKey: Uint8Array;
  /** With its prefix length, as wg-quick wants it (e.g. 10.8.0.2/32). */
  address: string;
  listenPort?: number;
  peers: WgQuickPeerOut[];
}

/** Writes a wg-quick file that `parseWgQuick` (and wg-quick) read back. It holds the private key. */
export function formatWgQuick(c: WgQuickOut): string {
  const comment = (text: string | undefined) => (text ? text.split('\n').map((l) => `# ${l}`) : []);
  const lines = [...comment(c.comment), '[Interface]', `PrivateKey = ${formatKey(c.privateKey)}`, `Address = ${c.address}`];
  if (c.listenPort !== undefined) lines.push(`ListenPort = ${c.listenPort}`);
  for (const p of c.peers) {
    lines.push('', ...comment(p.comment), '[Peer]', `PublicKey = ${formatKey(p.publicKey)}`, `AllowedIPs = ${p.allowedIPs.join(', ')}`);
    if (p.endpoint) lines.push(`Endpoint = ${p.endpoint}`);
    if (p.persistentKeepalive) lines.push(`PersistentKeepalive = ${p.persistentKeepalive}`);
  }
  return `${lines.join('\n')}\n`;
}
