// What the fault suite shares: a local mesh (examples/local-mesh's fleet) whose nodes are `ppn run`
// processes this file starts, kills with SIGKILL and starts again one by one, keeping every
// incarnation's log, and a way to type commands into F8 while that happens.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { F8_TOKEN_FILE } from '../../core/contracts/f8.js';
import { projectRoot } from '../../core/project-root.js';
import { localFleet, prepareLocalMesh, type LocalNode } from '../../examples/local-mesh/fleet.js';
import { scratchDir } from '../support/pipeline.js';

export type LogRecord = Record<string, any> & { msg?: string };

export interface FaultNode {
  node: LocalNode;
  /** Every record of every incarnation, in order. */
  logs: LogRecord[];
  child?: ChildProcess;
  start(): Promise<void>;
  /** SIGKILL, and wait until it is gone. */
  kill(): Promise<void>;
  stop(): Promise<void>;
  waitForLog(match: (r: LogRecord) => boolean, timeoutMs?: number, from?: number): Promise<LogRecord>;
}

export interface FaultMesh {
  root: string;
  nodes: Map<string, FaultNode>;
  f8Url: string;
  f8Token: string;
  /** POST /v1/intents; undefined when the admin does not answer (it may be dead right now). */
  post(text: string): Promise<{ status: number; body: any } | undefined>;
  get(path: string): Promise<any>;
  stop(): Promise<void>;
}

const cli = () => join(projectRoot(), 'dist/core/cli/main.js');

/** Where a node's process runs: this namespace, or a network namespace (root only). */
export interface Placement {
  /** The network namespace a node's processes run in, if any. */
  nsOf?: (node: LocalNode) => string | undefined;
}

const inNs = (ns: string | undefined, argv: string[]): [string, string[]] => (ns ? ['ip', ['netns', 'exec', ns, ...argv]] : [argv[0], argv.slice(1)]);

function faultNode(node: LocalNode, pipeline: string, ns: string | undefined): FaultNode {
  const logs: LogRecord[] = [];
  let stderr = '';
  const waiters = new Set<{ match: (r: LogRecord) => boolean; from: number; resolve: (r: LogRecord) => void }>();
  const self: FaultNode = {
    node,
    logs,
    async start() {
      const from = logs.length;
      const [cmd, args] = inNs(ns, [process.execPath, cli(), 'run', pipeline, '--instance', node.instanceDir, '--no-watch', '--log-level', 'info']);
      // Without a namespace the IPC channel ties the node to this process (core/cli/node-process.ts).
      const child = spawn(cmd, args, { stdio: ns ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe', 'ipc'] });
      self.child = child;
      child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-2000)));
      createInterface({ input: child.stdout! }).on('line', (line) => {
        let record: LogRecord;
        try {
          record = JSON.parse(line);
        } catch {
          return;
        }
        logs.push(record);
        for (const w of [...waiters]) if (logs.length > w.from && w.match(record)) (waiters.delete(w), w.resolve(record));
      });
      await self.waitForLog((r) => r.msg === 'control endpoint on loopback', 40_000, from);
    },
    async kill() {
      const child = self.child;
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await gone;
    },
    async stop() {
      const child = self.child;
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(timer);
    },
    waitForLog(match, timeoutMs = 20_000, from = 0) {
      const seen = logs.slice(from).find(match);
      if (seen) return Promise.resolve(seen);
      let timer: NodeJS.Timeout | undefined;
      return Promise.race([
        new Promise<LogRecord>((resolve) => waiters.add({ match, from, resolve })),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${node.name}: log line did not come within ${timeoutMs} ms; stderr: ${stderr.trim() || '(none)'}`)), timeoutMs))),
      ]).finally(() => clearTimeout(timer));
    },
  };
  return self;
}

/** Free-ish ports: a random base; F8 on a fixed port so its URL survives the admin's restarts. */
export async function startFaultMesh(
  name: string,
  edit: (node: LocalNode, pipeline: any) => void = () => {},
  prepare: (nodes: LocalNode[]) => void = () => {},
  placement: Placement = {},
): Promise<FaultMesh> {
  const root = scratchDir(name);
  const base = 40000 + Math.floor(Math.random() * 20000);
  const fleet = localFleet(root, base);
  prepareLocalMesh(fleet);
  prepare(fleet);
  const f8Port = base + 200;
  const nodes = new Map<string, FaultNode>();
  for (const n of fleet) {
    const pipeline = JSON.parse(readFileSync(join(projectRoot(), 'pipelines', `${n.role}.json`), 'utf8'));
    delete pipeline.$schema;
    if (n.role === 'os-network-admin') pipeline.stages.f8.config.port = f8Port;
    edit(n, pipeline);
    const file = join(root, `${n.name}.pipeline.json`);
    writeFileSync(file, JSON.stringify(pipeline, null, 2));
    nodes.set(n.name, faultNode(n, file, placement.nsOf?.(n)));
  }
  const stop = async () => {
    await Promise.all([...nodes.values()].map((n) => n.stop()));
  };
  try {
    await Promise.all([...nodes.values()].map((n) => n.start()));
  } catch (err) {
    await stop();
    throw err;
  }
  const admin = [...nodes.values()].find((n) => n.node.role === 'os-network-admin')!;
  const f8Url = `http://127.0.0.1:${f8Port}`;
  const f8Token = readFileSync(join(admin.node.instanceDir, F8_TOKEN_FILE), 'utf8').trim();
  const request = f8Client(f8Url, f8Token, placement.nsOf?.(admin.node));
  return {
    root,
    nodes,
    f8Url,
    f8Token,
    post: (text) => request('POST', '/v1/intents', JSON.stringify({ text })),
    get: async (path) => (await request('GET', path))?.body,
    stop,
  };
}

/** How often `name` ran the command with counter `counter` (every incarnation). */
export function executions(node: FaultNode, counter: string): number {
  return node.logs.filter((r) => r.msg === 'command handled' && r.counter === counter).length;
}

/** F8's API from here, or from inside the admin's namespace (its loopback is not ours). */
function f8Client(url: string, token: string, ns: string | undefined) {
  const script = `const [u, t, m, b] = process.argv.slice(1);
    fetch(u, { method: m, headers: { authorization: 'Bearer ' + t, 'content-type': 'application/json' }, body: b || undefined, signal: AbortSignal.timeout(5000) })
      .then(async (r) => console.log(JSON.stringify({ status: r.status, body: await r.json() })), () => console.log('null'));`;
  return async (method: string, path: string, body?: string): Promise<{ status: number; body: any } | undefined> => {
    if (!ns) {
      try {
        const res = await fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(5000) });
        return { status: res.status, body: await res.json() };
      } catch {
        return undefined;
      }
    }
    const [cmd, args] = inNs(ns, [process.execPath, '-e', script, `${url}${path}`, token, method, body ?? '']);
    const out = await new Promise<string>((resolve) => {
      let text = '';
      const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] });
      child.stdout.on('data', (d) => (text += d));
      child.once('exit', () => resolve(text));
    });
    return JSON.parse(out.trim() || 'null') ?? undefined;
  };
}
