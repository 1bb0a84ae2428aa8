// Drives mesh-node.js (meshes in a child process inside a network namespace) from a test.
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stop, watchLines, type Lines } from '../wireguard/netns.js';
// Type only: importing the script itself would run it.
import type { NodeConfig } from './mesh-node.js';

const NODE_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'mesh-node.js');

export interface MeshChild {
  child: ChildProcess;
  lines: Lines;
  /** Sends `text` from `node` to `to:port` and resolves when it comes back (an echo). */
  echo(node: string, to: string, port: number, text: string, ms?: number): Promise<{ from: { address: string; port: number } }>;
  status(node: string): Promise<Record<string, any>>;
  stop(): Promise<void>;
}

const event = (name: string, test: (e: any) => boolean = () => true) => (line: string) => {
  try {
    const e = JSON.parse(line);
    return e.event === name && test(e);
  } catch {
    return false;
  }
};

export async function startMeshChild(ns: string, nodes: NodeConfig[]): Promise<MeshChild> {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, NODE_SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines = watchLines(child);
  const write = (o: object) => child.stdin!.write(`${JSON.stringify(o)}\n`);
  write({ nodes });
  const started = await Promise.race([
    lines.waitFor(event('ready'), 15_000, `meshes in ${ns} to start`),
    lines.waitFor(event('error'), 15_000, 'a start-up error'),
  ]);
  if (JSON.parse(started).event === 'error') {
    await stop(child);
    throw new Error(`meshes in ${ns}: ${JSON.parse(started).message}`);
  }
  return {
    child,
    lines,
    async echo(node, to, port, text, ms = 20_000) {
      const reply = lines.waitForNext(event('reply', (e) => e.node === node && e.text === text), ms, `"${text}" back at ${node}`);
      write({ send: { node, to, port, text } });
      return JSON.parse(await reply);
    },
    async status(node) {
      const answer = lines.waitForNext(event('status', (e) => e.node === node), 5000, `${node}'s status`);
      write({ status: node });
      return JSON.parse(await answer).status;
    },
    async stop() {
      child.stdin!.end();
      await stop(child);
    },
  };
}
