// The fleet simulator: a whole mesh of real nodes on this machine's loopback, in few processes.
// The authority (admin) and the hub run as their own `ppn run` processes, as on real machines;
// the edge nodes run many to a process (fleet-sim-worker.ts), each with its own keys, its own
// Genesis join (outbound to the admin's join endpoint, admission 'auto'), its own userspace
// WireGuard device on its own UDP socket, and its own pipeline host (verifier, executor,
// telemetry, membership sync). What is simplified: the admin admits automatically (no operator,
// no enrolment tokens), every node sits on 127.0.0.1 (one network: endpoints are advertised to
// each other, as on one LAN), and edge nodes of one worker share an event loop.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { F8_TOKEN_FILE } from '../../core/contracts/index.js';
import type { PinnedAuthority } from '../../core/genesis/authority-pin.js';
import { pinAuthority } from '../../core/genesis/authority-pin.js';
import { joinMesh } from '../../core/genesis/join-client.js';
import { loadGenesisKey } from '../../core/genesis/signing-key.js';
import { formatKey, publicKeyOf } from '../../core/keys/index.js';
import { loadSecret } from '../../core/membership/instance-files.js';
import { projectRoot } from '../../core/project-root.js';
import { parseEndpoint } from '../../core/underlay/endpoint.js';
import type { FromWorker, ToWorker, WorkerNode } from './fleet-sim-worker.js';
import { scratchDir } from './pipeline.js';

const cli = join(projectRoot(), 'dist/core/cli/main.js');
const workerScript = join(projectRoot(), 'dist/test/support/fleet-sim-worker.js');
export const ADMIN_ID = 10;

export type LogRecord = Record<string, unknown> & { msg?: string; time?: number };

export interface FleetSimOptions {
  /** Edge nodes (the mesh has two more: the hub and the admin). 252 fills the /24. */
  edges: number;
  /** Processes the edge nodes are spread over. */
  workers?: number;
  /** The admin's membership re-push interval. */
  syncEveryMs?: number;
  /** How long every edge node may take to join and run; by default 60 s + 0.5 s a node. */
  joinTimeoutMs?: number;
}

export interface NodeProcess {
  child: ChildProcess;
  logs: LogRecord[];
  /** The first record (seen or to come) that matches. */
  waitFor(match: (r: LogRecord) => boolean, ms?: number, what?: string): Promise<LogRecord>;
}

export interface FleetSim {
  root: string;
  admin: NodeProcess;
  hub: NodeProcess;
  f8Url: string;
  /** Edge node names, by node id (once running). */
  edges: Map<number, string>;
  /** POSTs to F8's intents API: its status and body. */
  f8(text: string): Promise<{ status: number; body: any }>;
  f8Get(path: string): Promise<{ status: number; body: any }>;
  /** Edge nodes that executed the command with this counter, with when (epoch ms), possibly more than once. */
  executions(counter: string): { name: string; at: number }[];
  /** Resolves once `count` distinct edge nodes executed the counter. */
  executed(counter: string, count: number, ms?: number): Promise<{ name: string; at: number }[]>;
  /** The acks the admin logged for the counter: node id and when. */
  acks(counter: string): { nodeId: number; at: number }[];
  /** Resolves once every edge node named has applied a membership update satisfying `match`. */
  membershipApplied(names: readonly string[], match: (u: { seq: number; peers: number }) => boolean, ms?: number): Promise<number>;
  /** Runs `ppn` with these arguments against the admin's instance directory. */
  ppn(...args: string[]): Promise<string>;
  /** Starts one more edge node (it joins, then runs) in the first worker; resolves with its node id. */
  addEdge(name: string): Promise<number>;
  /**
   * Kills the hub (SIGKILL) and starts it again on the same instance directory; resolves once it
   * has a session again with `sessions` peers (the spokes notice the silent hub and start fresh
   * ones), or at once when it runs.
   */
  restartHub(sessions?: number): Promise<void>;
  /** One more edge node as its own `ppn run` process (joined first, as the hub is); `nodeOptions` go to NODE_OPTIONS. */
  edgeProcess(name: string, nodeOptions?: string): Promise<NodeProcess>;
  /** RSS and heap of each process, bytes. */
  memory(): Promise<{ admin: number; hub: number; workers: { rss: number; heapUsed: number }[] }>;
  stop(): Promise<void>;
}

function followLog(child: ChildProcess, name: string, file: string): NodeProcess {
  // Every line also to <root>/<name>.log, to read after a failed run.
  const out = createWriteStream(file, { flags: 'a' });
  child.once('exit', () => out.end());
  const logs: LogRecord[] = [];
  const waiters = new Set<{ match: (r: LogRecord) => boolean; resolve: (r: LogRecord) => void }>();
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    out.write(line + '\n');
    let r: LogRecord;
    try {
      r = JSON.parse(line);
    } catch {
      return;
    }
    logs.push(r);
    for (const w of [...waiters]) if (w.match(r)) (waiters.delete(w), w.resolve(r));
  });
  return {
    child,
    logs,
    waitFor(match, ms = 30_000, what = 'a log line') {
      const seen = logs.find(match);
      if (seen) return Promise.resolve(seen);
      let timer: NodeJS.Timeout | undefined;
      return Promise.race([
        new Promise<LogRecord>((resolve) => waiters.add({ match, resolve })),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${name}: ${what} did not come within ${ms} ms ${stderr.trim()}`)), ms))),
      ]).finally(() => clearTimeout(timer));
    },
  };
}

function runPpn(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`ppn ${args.join(' ')} exited ${code}: ${err.trim()}`))));
  });
}

/** A UDP port free on loopback at this moment. */
async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

const stopChild = (child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM') =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill(signal);
    setTimeout(() => child.kill('SIGKILL'), 8_000).unref();
  });

export async function startFleetSim(options: FleetSimOptions): Promise<FleetSim> {
  const root = scratchDir('fleet');
  const dir = (name: string) => join(root, name);
  // Loopback ports the system says are free now (another run on this machine may hold others).
  // The system may offer a port again once it is closed: each is handed out once.
  const handedOut = new Set<number>();
  const listen = async (): Promise<string> => {
    const port = await freeUdpPort();
    if (handedOut.has(port)) return listen();
    handedOut.add(port);
    return `127.0.0.1:${port}`;
  };
  const joinEndpoint = await listen();
  const children: ChildProcess[] = [];

  await runPpn(['authority', 'init', '--instance', dir('admin'), '--listen', joinEndpoint]);
  const adminPipeline = join(root, 'admin.pipeline.json');
  const p = JSON.parse(readFileSync(join(projectRoot(), 'pipelines/os-network-admin.json'), 'utf8'));
  delete p.$schema;
  p.stages.f8.config = { port: 0 };
  p.stages.genesis.config = { admission: 'auto', beacon: { enabled: false }, sync: { pollMs: 100, everyMs: options.syncEveryMs ?? 15_000 } };
  writeFileSync(adminPipeline, JSON.stringify(p, null, 2));
  const startProcess = (name: string, args: string[], nodeOptions?: string) => {
    const env = nodeOptions ? { ...process.env, NODE_OPTIONS: nodeOptions } : process.env;
    // FLEET_PROCESS_ARGS: node flags for the admin, the hub and edge processes (e.g. --cpu-prof).
    const flags = (process.env.FLEET_PROCESS_ARGS ?? '').split(' ').filter(Boolean);
    const child = spawn(process.execPath, [...flags, cli, 'run', ...args, '--instance', dir(name), '--no-watch'], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env });
    children.push(child);
    return followLog(child, name, join(root, `${name}.log`));
  };
  const admin = startProcess('admin', [adminPipeline]);
  const f8Url = String((await admin.waitFor((r) => r.msg === 'F8 terminal listening', 30_000, 'F8')).url).replace(/\/$/, '');
  await admin.waitFor((r) => r.msg === 'join endpoint listening', 30_000, 'the join endpoint');
  const token = readFileSync(join(dir('admin'), F8_TOKEN_FILE), 'utf8').trim();
  const pinned: PinnedAuthority = {
    genesisKey: loadGenesisKey(dir('admin'), false).publicText,
    commandPublicKey: formatKey(publicKeyOf(loadSecret(dir('admin'), 'command.key', false))),
    nodeId: ADMIN_ID,
    address: `10.8.0.${ADMIN_ID}`,
  };

  /** A node that runs as its own process joins from here first, as `ppn join` would. */
  const joinHere = async (name: string, role: string, listen: string) => {
    pinAuthority(dir(name), pinned);
    await joinMesh({
      instanceDir: dir(name), name, role, listen, scanWindowMs: 0, beaconPort: 1, beaconFreshnessMs: 120_000,
      claimListen: { host: '127.0.0.1', port: 0 }, authorityEndpoint: parseEndpoint(joinEndpoint), pollMs: 200, joinTimeoutMs: 30_000, say: () => {},
    });
  };
  // The hub joins first (it gets id 1), then runs as its own process.
  await joinHere('hub', 'cloud-relay', await listen());
  const startHub = () => startProcess('hub', ['--role', 'cloud-relay']);
  const sim = { hub: startHub() };
  await sim.hub.waitFor((r) => r.msg === 'pipeline running', 30_000, 'the hub running');

  const executions = new Map<string, { name: string; at: number }[]>();
  const membership = new Map<string, { seq: number; peers: number; at: number }>();
  const changes = new Set<() => void>();
  const edges = new Map<number, string>();
  const failures: string[] = [];
  const workerCount = options.workers ?? 4;
  const workers: ChildProcess[] = [];
  const pending = new Map<string, { resolve: (id: number) => void; reject: (e: Error) => void }>();
  const memoryAnswers: ((m: { rss: number; heapUsed: number }) => void)[][] = [];
  for (let w = 0; w < workerCount; w++) {
    // FLEET_WORKER_ARGS: node flags for the workers (e.g. --cpu-prof to see where a fleet's time goes).
    const child = fork(workerScript, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: (process.env.FLEET_WORKER_ARGS ?? '').split(' ').filter(Boolean) });
    children.push(child);
    workers.push(child);
    memoryAnswers.push([]);
    child.on('message', (m: FromWorker) => {
      if (m.type === 'executed') {
        const list = executions.get(m.counter) ?? [];
        list.push({ name: m.name, at: m.at });
        executions.set(m.counter, list);
      } else if (m.type === 'membership') {
        membership.set(m.name, m);
      } else if (m.type === 'running') {
        edges.set(m.nodeId, m.name);
        pending.get(m.name)?.resolve(m.nodeId);
      } else if (m.type === 'failed') {
        failures.push(`${m.name}: ${m.error}`);
        pending.get(m.name)?.reject(new Error(`${m.name} failed: ${m.error}`));
      } else if (m.type === 'memory') {
        memoryAnswers[w].shift()?.(m);
      }
      for (const c of [...changes]) c();
    });
  }
  /** Resolves once `done()` holds (checked at every worker message), or rejects after `ms`. */
  const until = <T>(done: () => T | undefined, ms: number, what: string) =>
    new Promise<T>((resolve, reject) => {
      const check = () => {
        if (failures.length) return finish(() => reject(new Error(`edge nodes failed:\n${failures.slice(0, 5).join('\n')}`)));
        const value = done();
        if (value !== undefined) finish(() => resolve(value));
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`${what}: not within ${ms} ms`))), ms);
      const finish = (f: () => void) => {
        clearTimeout(timer);
        changes.delete(check);
        f();
      };
      changes.add(check);
      check();
    });

  const edgeNode = async (name: string): Promise<WorkerNode> => ({ name, instanceDir: dir(name), listen: await listen() });
  const planned: WorkerNode[][] = workers.map(() => []);
  for (let i = 0; i < options.edges; i++) planned[i % workerCount].push(await edgeNode(`edge-${i + 1}`));
  planned.forEach((nodes, w) => workers[w].send({ type: 'start', nodes, pinned, joinEndpoint } satisfies ToWorker));

  const fleet: FleetSim = {
    root, admin, f8Url, edges,
    get hub() {
      return sim.hub;
    },
    async f8(text) {
      const res = await fetch(`${f8Url}/v1/intents`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ text }) });
      return { status: res.status, body: await res.json() };
    },
    async f8Get(path) {
      const res = await fetch(`${f8Url}${path}`, { headers: { authorization: `Bearer ${token}` } });
      return { status: res.status, body: await res.json() };
    },
    executions: (counter) => executions.get(counter) ?? [],
    executed: (counter, count, ms = 30_000) =>
      until(() => {
        const list = executions.get(counter) ?? [];
        return new Set(list.map((e) => e.name)).size >= count ? list : undefined;
      }, ms, `${count} executions of ${counter}`),
    acks: (counter) => admin.logs.filter((r) => r.msg === 'ack' && (r.body as { counter?: string })?.counter === counter)
      .map((r) => ({ nodeId: (r.body as { nodeId: number }).nodeId, at: r.time! })),
    membershipApplied: (names, match, ms = 60_000) =>
      until(() => {
        let last = 0;
        for (const n of names) {
          const m = membership.get(n);
          if (!m || !match(m)) return undefined;
          last = Math.max(last, m.at);
        }
        return last;
      }, ms, `membership updates at ${names.length} nodes (${names.filter((n) => { const m = membership.get(n); return m && match(m); }).length} so far)`),
    ppn: (...args) => runPpn(args),
    async addEdge(name) {
      const node = await edgeNode(name);
      const started = new Promise<number>((resolve, reject) => pending.set(name, { resolve, reject }));
      workers[0].send({ type: 'add', node } satisfies ToWorker);
      return started;
    },
    async restartHub(sessions = 0) {
      await stopChild(sim.hub.child, 'SIGKILL');
      sim.hub = startHub();
      await sim.hub.waitFor((r) => r.msg === 'pipeline running', 30_000, 'the hub running again');
      const peers = new Set<unknown>();
      if (sessions) await sim.hub.waitFor((r) => r.msg === 'handshake completed' && peers.add(r.peer).size >= sessions, 60_000, `sessions with ${sessions} peers`);
    },
    async edgeProcess(name, nodeOptions) {
      await joinHere(name, 'os-infrastructure', await listen());
      const edge = startProcess(name, ['--role', 'os-infrastructure'], nodeOptions);
      await edge.waitFor((r) => r.msg === 'pipeline running', 30_000, `${name} running`);
      return edge;
    },
    async memory() {
      const rssOf = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
      const answers = await Promise.all(workers.map((w, i) => new Promise<{ rss: number; heapUsed: number }>((resolve) => {
        memoryAnswers[i].push(resolve);
        w.send({ type: 'memory' } satisfies ToWorker);
      })));
      return { admin: rssOf(admin.child.pid!), hub: rssOf(sim.hub.child.pid!), workers: answers };
    },
    async stop() {
      await Promise.all(workers.map((w) => new Promise<void>((resolve) => {
        if (w.exitCode !== null) return resolve();
        w.once('exit', () => resolve());
        w.send({ type: 'stop' } satisfies ToWorker);
        setTimeout(() => w.kill('SIGKILL'), 10_000).unref();
      })));
      await Promise.all(children.map((c) => stopChild(c)));
    },
  };
  try {
    await until(() => (edges.size >= options.edges ? true : undefined), options.joinTimeoutMs ?? 60_000 + options.edges * 500, `${options.edges} edge nodes joined and running`).catch((err: Error) => {
      throw new Error(`${err.message}: ${edges.size} were`);
    });
  } catch (err) {
    await fleet.stop();
    throw err;
  }
  return fleet;
}
