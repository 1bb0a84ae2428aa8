// Network namespaces for interop tests and benches: two namespaces joined by a veth pair
// (192.0.2.1 and 192.0.2.2, TEST-NET-1, inside the namespaces only), wireguard-go in one of them,
// and line-by-line watching of child processes so tests wait on events, not on time.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { uapiSet, uapiSocketPath, type UapiPeer } from '../../core/wireguard/uapi.js';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (bounded); never throws on a non-zero exit. */
export function run(cmd: string, args: string[], timeoutMs = 15_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${cmd} ${args.join(' ')}: no exit within ${timeoutMs} ms`)); }, timeoutMs);
    child.on('error', (err) => { clearTimeout(timer); reject(err); });
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

async function must(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

export interface Lines {
  all: string[];
  /** The first matching line from index `since` on, already seen or still to come; rejects after `ms`. */
  waitFor(match: RegExp | ((line: string) => boolean), ms: number, what?: string, since?: number): Promise<string>;
  /** Like waitFor, but only lines that have not arrived yet. */
  waitForNext(match: RegExp | ((line: string) => boolean), ms: number, what?: string): Promise<string>;
}

export function watchLines(child: ChildProcess): Lines {
  const all: string[] = [];
  const waiters = new Set<{ test: (l: string) => boolean; resolve: (l: string) => void }>();
  const feed = (stream: NodeJS.ReadableStream | null) => {
    let partial = '';
    stream?.on('data', (chunk: Buffer) => {
      const parts = (partial + chunk.toString('utf8')).split('\n');
      partial = parts.pop()!;
      for (const line of parts) {
        all.push(line);
        for (const w of [...waiters]) if (w.test(line)) { waiters.delete(w); w.resolve(line); }
      }
    });
  };
  feed(child.stdout);
  feed(child.stderr);
  const toTest = (m: RegExp | ((l: string) => boolean)) => (typeof m === 'function' ? m : (l: string) => m.test(l));
  const wait = (test: (l: string) => boolean, ms: number, what: string) => new Promise<string>((resolve, reject) => {
    const w = { test, resolve: (l: string) => { clearTimeout(timer); resolve(l); } };
    const timer = setTimeout(() => {
      waiters.delete(w);
      reject(new Error(`waited ${ms} ms for ${what}; last lines:\n${all.slice(-15).join('\n')}`));
    }, ms);
    waiters.add(w);
  });
  return {
    all,
    waitFor(match, ms, what = String(match), since = 0) {
      const test = toTest(match);
      const seen = all.slice(since).find(test);
      return seen !== undefined ? Promise.resolve(seen) : wait(test, ms, what);
    },
    waitForNext(match, ms, what = String(match)) {
      return wait(toTest(match), ms, what);
    },
  };
}

/** Stops a child with SIGTERM (SIGKILL after `ms`) and resolves with its exit code. */
export function stop(child: ChildProcess, ms = 5000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.once('exit', (code) => { clearTimeout(timer); resolve(code); });
    child.kill('SIGTERM');
  });
}

export interface NetnsPair {
  a: string;
  b: string;
  addressA: string;
  addressB: string;
  destroy(): Promise<void>;
}

/** Two namespaces joined by veth; `id` keeps names unique (≤ 15 characters for links). */
export async function createNetnsPair(id: string, mtu = 1500): Promise<NetnsPair> {
  const a = `ppnwg-${id}-a`;
  const b = `ppnwg-${id}-b`;
  const pair: NetnsPair = {
    a, b, addressA: '192.0.2.1', addressB: '192.0.2.2',
    async destroy() {
      await run('ip', ['netns', 'del', a]);
      await run('ip', ['netns', 'del', b]);
    },
  };
  try {
    await must('ip', ['netns', 'add', a]);
    await must('ip', ['netns', 'add', b]);
    await must('ip', ['link', 'add', `pv${id}a`, 'mtu', String(mtu), 'netns', a, 'type', 'veth', 'peer', 'name', `pv${id}b`, 'mtu', String(mtu), 'netns', b]);
    for (const [ns, dev, addr] of [[a, `pv${id}a`, '192.0.2.1/24'], [b, `pv${id}b`, '192.0.2.2/24']]) {
      await must('ip', ['-n', ns, 'addr', 'add', addr, 'dev', dev]);
      await must('ip', ['-n', ns, 'link', 'set', dev, 'up']);
      await must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
  } catch (err) {
    await pair.destroy();
    throw err;
  }
  return pair;
}

export interface WireguardGo {
  iface: string;
  child: ChildProcess;
  lines: Lines;
  configure(c: { privateKey?: Uint8Array; listenPort?: number; peers: UapiPeer[] }): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts Debian's wireguard-go in the foreground inside `ns`, verbose, and gives its interface
 * `address` (e.g. 10.99.0.1/24). Interface names must be unique: the UAPI directory is shared.
 */
export async function startWireguardGo(ns: string, iface: string, address: string, mtu = 1420): Promise<WireguardGo> {
  if (existsSync(uapiSocketPath(iface))) throw new Error(`${uapiSocketPath(iface)} exists: is another ${iface} running?`);
  const child = spawn('ip', ['netns', 'exec', ns, 'wireguard-go', '-f', iface], {
    env: { ...process.env, WG_PROCESS_FOREGROUND: '1', LOG_LEVEL: 'verbose' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines = watchLines(child);
  const wg: WireguardGo = {
    iface, child, lines,
    configure: (c) => uapiSet(iface, { ...c, replacePeers: true }),
    async stop() { await stop(child); },
  };
  try {
    await lines.waitFor(/UAPI listener started/, 10_000, 'wireguard-go to start');
    await must('ip', ['-n', ns, 'addr', 'add', address, 'dev', iface]);
    await must('ip', ['-n', ns, 'link', 'set', iface, 'mtu', String(mtu), 'up']);
  } catch (err) {
    await wg.stop();
    throw err;
  }
  return wg;
}

/** A UDP client run inside a namespace: sends `count` datagrams and waits for each to come back. */
const UDP_CLIENT = `
import dgram from 'node:dgram';
const [bindAddr, host, port, count, waitMs, size, prefix] = process.argv.slice(1);
const s = dgram.createSocket('udp4');
const want = new Set(Array.from({ length: +count }, (_, i) => (prefix + i + ' ').padEnd(+size, '.')));
const got = [];
const timer = setTimeout(() => { console.log(JSON.stringify({ got, timeout: true })); process.exit(2); }, +waitMs);
s.on('message', (m, r) => {
  if (want.delete(m.toString())) got.push(m.toString());
  if (want.size === 0) { clearTimeout(timer); console.log(JSON.stringify({ got, from: r.address + ':' + r.port })); s.close(); }
});
s.bind(0, bindAddr, () => { for (const w of want) s.send(w, +port, host); });
`;

export interface UdpEchoResult {
  /** 0 when every datagram came back, 2 on timeout. */
  code: number | null;
  got?: string[];
  /** "address:port" the answers came from. */
  from?: string;
}

/**
 * From `bindAddr` inside `ns`, sends `count` datagrams of `size` bytes (`prefix` and a number,
 * padded) to an echo service at `host:port` and waits (at most `waitMs`) for all to come back.
 */
export async function udpEchoFrom(ns: string, bindAddr: string, host: string, port: number,
  { count = 1, waitMs = 15_000, size = 16, prefix = 'msg-' } = {}): Promise<UdpEchoResult> {
  const r = await run('ip', ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', UDP_CLIENT,
    bindAddr, host, String(port), String(count), String(waitMs), String(size), prefix], waitMs + 5000);
  return { code: r.code, ...(JSON.parse(r.stdout.trim().split('\n').at(-1) || '{}') as { got?: string[]; from?: string }) };
}
