// Starts each node of a local mesh as its own `ppn run` process and follows its log. The nodes
// end when the launcher does: by stop(), or on their own when it dies.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { projectRoot } from '../../core/project-root.js';
import { F8_TOKEN_FILE } from '../../core/contracts/index.js';
import type { LocalNode } from './fleet.js';

export type LogRecord = Record<string, unknown> & { msg?: string; level?: number };

export interface RunningNode {
  node: LocalNode;
  process: ChildProcess;
  logs: LogRecord[];
  /** Resolves with the first record (already seen or to come) that matches. */
  waitForLog(match: (r: LogRecord) => boolean, timeoutMs?: number): Promise<LogRecord>;
}

export interface RunningMesh {
  nodes: Map<string, RunningNode>;
  f8Url: string;
  f8Token: string;
  stop(): Promise<void>;
}

export interface LaunchOptions {
  /** The pipeline file a node runs; by default pipelines/<role>.json. */
  pipelineFor?: (node: LocalNode) => string;
  logLevel?: string;
  /** Every log record, as it comes (the demo prints some of them). */
  onLog?: (node: LocalNode, record: LogRecord) => void;
}

export async function launchLocalMesh(nodes: LocalNode[], options: LaunchOptions = {}): Promise<RunningMesh> {
  const cli = join(projectRoot(), 'dist/core/cli/main.js');
  const pipelineFor = options.pipelineFor ?? ((n) => join(projectRoot(), 'pipelines', `${n.role}.json`));
  const running = new Map<string, RunningNode>();
  const start = (node: LocalNode): RunningNode => {
    const child = spawn(process.execPath, [cli, 'run', pipelineFor(node), '--instance', node.instanceDir, '--no-watch', '--log-level', options.logLevel ?? 'info'], {
      // The IPC channel is the node's tie to this launcher: the kernel closes it when the launcher
      // dies, however it dies, and the node then stops by itself (core/cli/node-process.ts).
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const logs: LogRecord[] = [];
    const waiters = new Set<{ match: (r: LogRecord) => boolean; resolve: (r: LogRecord) => void }>();
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let record: LogRecord;
      try {
        record = JSON.parse(line);
      } catch {
        return;
      }
      logs.push(record);
      options.onLog?.(node, record);
      for (const w of [...waiters]) if (w.match(record)) (waiters.delete(w), w.resolve(record));
    });
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) => reject(new Error(`${node.name} exited (${code}) ${stderr.trim().slice(-2000)}`))),
    );
    exited.catch(() => {});
    running.set(node.name, {
      node,
      process: child,
      logs,
      waitForLog(match, timeoutMs = 20_000) {
        const seen = logs.find(match);
        if (seen) return Promise.resolve(seen);
        let timer: NodeJS.Timeout | undefined;
        return Promise.race([
          new Promise<LogRecord>((resolve) => waiters.add({ match, resolve })),
          exited,
          new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${node.name}: log line did not come within ${timeoutMs} ms`)), timeoutMs))),
        ]).finally(() => clearTimeout(timer));
      },
    });
    return running.get(node.name)!;
  };
  const stop = async () => {
    await Promise.all(
      [...running.values()].map(
        (r) =>
          new Promise<void>((resolve) => {
            if (r.process.exitCode !== null || r.process.signalCode !== null) return resolve();
            r.process.once('exit', () => resolve());
            r.process.kill('SIGTERM');
            setTimeout(() => r.process.kill('SIGKILL'), 5_000).unref();
          }),
      ),
    );
  };
  const started = (r: RunningNode) => r.waitForLog((l) => l.msg === 'control endpoint on loopback');
  try {
    // The hub first, as an operator starts a fleet: a spoke up before the hub is listening loses
    // its first initiation and waits for WireGuard's retry (REKEY_TIMEOUT, 5 s).
    for (const hub of nodes.filter((n) => n.role === 'cloud-relay')) await started(start(hub));
    for (const node of nodes.filter((n) => n.role !== 'cloud-relay')) start(node);
    for (const r of running.values()) await started(r);
    const admin = [...running.values()].find((r) => r.node.role === 'os-network-admin')!;
    const f8 = await admin.waitForLog((l) => l.msg === 'F8 terminal listening');
    const f8Token = readFileSync(join(admin.node.instanceDir, F8_TOKEN_FILE), 'utf8').trim();
    return { nodes: running, f8Url: String(f8.url).replace(/\/$/, ''), f8Token, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
