// A fleet built by the Genesis Protocol on the NAT testbed, for the NAT tests and bench: the
// authority (admin) and the hub on the public side, every other node behind its NAT. Each node
// is provisioned with a bundle naming the authority's join endpoint and a one-time enrolment
// token, joins there outbound (`ppn join`: no beacon, no claim, no inbound port) and runs as its
// own `ppn run` process in its namespace. Commands go in through F8 (ns-tools, in the admin's
// namespace); executions are counted from each node's log.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../core/project-root.js';
import { run, stop, watchLines, type Lines, type RunResult } from '../wireguard/netns.js';
import type { Host, NatTestbed } from './testbed.js';

const cli = join(projectRoot(), 'dist/core/cli/main.js');
const tools = join(projectRoot(), 'dist/test/genesis/ns-tools.js');
export const WG_PORT = 51820;
export type LogRecord = Record<string, unknown> & { msg?: string };

const parse = (l: string): LogRecord => {
  try {
    return JSON.parse(l) as LogRecord;
  } catch {
    return {};
  }
};

export interface GenesisNode {
  host: Host;
  child: ChildProcess;
  lines: Lines;
  /** The first log record from line `since` on (seen or to come) with this message that matches. */
  log(msg: string, match?: (r: LogRecord) => boolean, ms?: number, since?: number): Promise<LogRecord>;
  /** How many times this node (in every incarnation) executed the command with this counter. */
  executions(counter: string): number;
  /** `ppn status --json` of the running node. */
  status(): Promise<Record<string, any>>;
  /** This node's path to a peer, from its status. */
  peer(name: string): Promise<Record<string, any>>;
  kill(): Promise<void>;
  start(): Promise<void>;
}

export interface GenesisFleet {
  nodes: Map<Host, GenesisNode>;
  node(host: Host): GenesisNode;
  /** Posts an intent to F8 (from the admin's namespace); F8's status and body. */
  f8(text: string): Promise<{ status: number; body: any }>;
  f8Get(path: string): Promise<any>;
  /** Sends `ping <host>` and resolves once the node executed it: its counter, when, ms it took. */
  command(host: Host, ms?: number): Promise<{ counter: string; at: number; ms: number }>;
  /** Sends `ping <host>` and resolves as soon as F8 signed it: its id and counter. */
  send(host: Host): Promise<{ host: Host; id: string; counter: string }>;
  /** The admin's record of the command's one target once it is no longer waiting ('sent'): executed, failed, no-answer… */
  outcome(id: string): Promise<{ status: string; detail: string | null }>;
  /** When each node's first boot (`ppn join`) began, epoch ms. */
  bootedAt: Map<Host, number>;
  stop(): Promise<void>;
}

const ROLE: Partial<Record<Host, string>> = { admin: 'os-network-admin', hub: 'cloud-relay' };

export async function startGenesisFleet(bed: NatTestbed, root: string, hosts: readonly Host[]): Promise<GenesisFleet> {
  const dir = (h: Host) => join(root, h);
  const inNs = (h: Host, args: string[]) => ['netns', 'exec', bed.ns(h), process.execPath, ...args];
  const ppn = async (h: Host | null, ...args: string[]): Promise<RunResult> => {
    const r = h ? await run('ip', inNs(h, [cli, ...args]), 30_000) : await run(process.execPath, [cli, ...args], 30_000);
    if (r.code !== 0) throw new Error(`ppn ${args.join(' ')} (${h ?? 'root ns'}) failed (${r.code}): ${r.stderr.trim()}`);
    return r;
  };
  const adminPipeline = join(root, 'admin.pipeline.json');
  const p = JSON.parse(readFileSync(join(projectRoot(), 'pipelines/os-network-admin.json'), 'utf8'));
  delete p.$schema;
  p.stages.f8.config = { port: 0 };
  // No LAN: no beacon. Membership updates pushed at once and every 3 s until acknowledged.
  p.stages.genesis.config = { admission: 'approve', beacon: { enabled: false }, sync: { pollMs: 100, everyMs: 3000 } };
  writeFileSync(adminPipeline, JSON.stringify(p, null, 2));
  const joinEndpoint = `${bed.address('admin')}:${WG_PORT}`;
  await ppn(null, 'authority', 'init', '--instance', dir('admin'), '--listen', joinEndpoint);

  let f8Url = '';
  const nodes = new Map<Host, GenesisNode>();
  const makeNode = (h: Host): GenesisNode => {
    const args = h === 'admin'
      ? ['run', adminPipeline, '--instance', dir(h), '--no-watch']
      : ['run', '--role', ROLE[h] ?? 'os-infrastructure', '--instance', dir(h), '--no-watch'];
    // Every incarnation's lines, so executions are counted across restarts.
    const all: string[] = [];
    const node: GenesisNode = {
      host: h, child: undefined as unknown as ChildProcess, lines: undefined as unknown as Lines,
      async log(msg, match = () => true, ms = 15_000, since = 0) {
        const line = await node.lines.waitFor((l) => { const r = parse(l); return r.msg === msg && match(r); }, ms, `${h}: log '${msg}'`, since);
        return parse(line);
      },
      executions: (counter) => [...all, ...node.lines.all].filter((l) => {
        const r = parse(l);
        return r.msg === 'command handled' && r.status === 'executed' && r.counter === counter;
      }).length,
      async status() {
        return JSON.parse((await ppn(h, 'status', '--instance', dir(h), '--json')).stdout);
      },
      async peer(name) {
        const peers = ((await node.status()).serviceStatus.mesh.paths.peers as Record<string, any>[]);
        return peers.find((x) => x.name === name)!;
      },
      async kill() {
        node.child.kill('SIGKILL');
        await stop(node.child);
      },
      async start() {
        if (node.lines) all.push(...node.lines.all);
        node.child = spawn('ip', inNs(h, [cli, ...args]), { stdio: ['ignore', 'pipe', 'pipe'] });
        node.lines = watchLines(node.child);
        if (h === 'admin') {
          f8Url = String((await node.log('F8 terminal listening')).url);
          await node.log('join endpoint listening');
        } else {
          await node.log('pipeline running', undefined, 20_000);
        }
      },
    };
    nodes.set(h, node);
    return node;
  };

  const fleet: GenesisFleet = {
    nodes,
    bootedAt: new Map(),
    node: (h) => nodes.get(h)!,
    async f8(text) {
      const token = readFileSync(join(dir('admin'), 'f8.token'), 'utf8').trim();
      const r = await run('ip', inNs('admin', [tools, 'f8', f8Url, token, text]), 30_000);
      if (r.code !== 0) throw new Error(`F8 post failed: ${r.stderr}`);
      return JSON.parse(r.stdout.trim().split('\n').pop()!);
    },
    async f8Get(path) {
      const token = readFileSync(join(dir('admin'), 'f8.token'), 'utf8').trim();
      const script = `fetch(${JSON.stringify(new URL(path.replace(/^\//, ''), f8Url).href)},{headers:{authorization:'Bearer ${token}'}}).then(r=>r.text()).then(t=>console.log(t))`;
      const r = await run('ip', ['netns', 'exec', bed.ns('admin'), process.execPath, '--input-type=module', '-e', script], 15_000);
      return JSON.parse(r.stdout);
    },
    async command(h, ms = 20_000) {
      const at = Date.now();
      const answer = await fleet.f8(`ping ${h}`);
      if (answer.status !== 200) throw new Error(`F8 answered ${answer.status} to 'ping ${h}': ${JSON.stringify(answer.body)}`);
      const counter = String(answer.body.counter);
      await fleet.node(h).log('command handled', (r) => r.counter === counter && r.status === 'executed', ms).catch((err: Error) => {
        // What the admin's mesh said lately, to tell a path problem from a lost datagram.
        const said = fleet.node('admin').lines.all.filter((l) => /path changed|hub silent|handshake/.test(l)).slice(-12);
        throw new Error(`${err.message}\nthe admin's mesh lately:\n${said.join('\n')}`);
      });
      return { counter, at: Date.now(), ms: Date.now() - at };
    },
    async send(h) {
      const answer = await fleet.f8(`ping ${h}`);
      if (answer.status !== 200) throw new Error(`F8 answered ${answer.status} to 'ping ${h}': ${JSON.stringify(answer.body)}`);
      return { host: h, id: String(answer.body.id), counter: String(answer.body.counter) };
    },
    async outcome(id) {
      // The record settles by the command's deadline at the latest (then it reads no-answer):
      // looked at every 0.5 s until then, as F8's API has no wait.
      for (;;) {
        const target = (await fleet.f8Get(`/v1/commands/${id}`)).targets[0];
        if (target.status !== 'sent') return target;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    },
    async stop() {
      await Promise.all([...nodes.values()].map((n) => n.child && stop(n.child)));
    },
  };

  try {
    await makeNode('admin').start();
    const provision = async (h: Host) => {
      const bundle = join(root, `${h}.bundle.json`);
      await ppn(null, 'provision', 'export', '--instance', dir('admin'), '--out', bundle, '--token', '--join-endpoint', joinEndpoint);
      await ppn(null, 'provision', '--authority', bundle, '--instance', dir(h));
    };
    const joinAndRun = async (h: Host) => {
      fleet.bootedAt.set(h, Date.now());
      await ppn(h, 'join', '--instance', dir(h), '--name', h, '--role', ROLE[h] ?? 'os-infrastructure');
      await makeNode(h).start();
    };
    const others = hosts.filter((h) => h !== 'admin');
    for (const h of others) await provision(h);
    // The hub first (every other node reaches the rest through it), then the others at once.
    if (others.includes('hub')) await joinAndRun('hub');
    await Promise.all(others.filter((h) => h !== 'hub').map(joinAndRun));
  } catch (err) {
    await fleet.stop();
    throw err;
  }
  return fleet;
}
