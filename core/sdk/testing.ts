// The stage test kit (as Benthos's MockResources): builds one stage as the host would — config
// checked against its schema with defaults filled in, only the services it declared — from the
// services a test gives it, then lets the test push envelopes in and read what came out, how each
// envelope was settled, what was counted and what was logged. No host, no pipeline file.
//
//   const kit = await startStage(verifier, { config: {}, services: { [NODE]: node } });
//   const env = kit.push('datagram', bytes, { from });
//   expect(await kit.settled(env)).to.deep.equal({ status: 'dropped', reason: 'command-length' });
//   expect(kit.counts()).to.include({ ... });
import { Subject } from 'rxjs';
import { pino } from 'pino';
import type { Services, Stage, StageDefinition } from '../runtime/define-stage.js';
import { createEnvelope, type Envelope, type Outcome } from '../runtime/envelope.js';
import { createMetrics } from '../runtime/metrics.js';
import { checkSchema, formatProblems } from '../runtime/schema-check.js';
import type { Mesh, MeshEndpoint, MeshSocket } from './services.js';

export interface StageKitOptions {
  /** The stage's config as a pipeline file would hold it (defaults are filled in). */
  config?: unknown;
  /** Service instances by token; the stage sees only those its definition declares. */
  services?: Record<string, unknown>;
  stageId?: string;
  baseDir?: string;
  /** False: the stage is built but not connected until `kit.connect()` (default true). */
  connect?: boolean;
}

export interface LogLine {
  level: number;
  msg?: string;
  [field: string]: unknown;
}

export interface StageKit {
  readonly stage: Stage;
  /** Everything the stage passed on, in order. */
  readonly outputs: Envelope[];
  readonly logs: LogLine[];
  /** Connects the stage (when built with `connect: false`). */
  connect(): void;
  /** A new envelope into the stage's input. */
  push<B>(kind: string, body: B, meta?: Record<string, unknown>): Envelope<B>;
  /** How `env` (pushed, or made by the stage) was settled; undefined while it is not. */
  outcome(env: Envelope): Outcome | undefined;
  /** Resolves with `env`'s outcome once it is settled. */
  settled(env: Envelope): Promise<Outcome>;
  /** Resolves once the stage has passed on `count` envelopes in all. */
  emitted(count: number): Promise<Envelope[]>;
  /** The stage's counters (ctx.metrics). */
  counts(): Record<string, number>;
  /** Resolves once the stage's counter `name` has reached `value` (things a timer of the stage counts). */
  counted(name: string, value: number): Promise<void>;
  /** Dropped envelopes by reason, as the host counts them. */
  drops(): Record<string, number>;
  close(): Promise<void>;
}

export async function startStage(definition: StageDefinition, options: StageKitOptions = {}): Promise<StageKit> {
  const config = structuredClone(options.config ?? {});
  const problems = checkSchema(definition.configSchema, config);
  if (problems.length) throw new Error(`${definition.type}: invalid config: ${formatProblems(problems)}`);

  const declared = new Set<string>(definition.services ?? []);
  const given = options.services ?? {};
  const services: Services = {
    get(token) {
      if (!declared.has(token)) throw new Error(`${definition.type} did not declare the service '${token}'`);
      if (!(token in given)) throw new Error(`the test gave no '${token}' service`);
      return given[token] as never;
    },
  };

  const logs: LogLine[] = [];
  const logger = pino({ level: 'trace' }, { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
  const counters = createMetrics();
  const countWaiters = new Set<{ name: string; value: number; resolve(): void }>();
  const metrics: typeof counters = {
    count(name, by) {
      counters.count(name, by);
      const now = counters.snapshot()[name];
      for (const w of countWaiters) if (w.name === name && now >= w.value) (countWaiters.delete(w), w.resolve());
    },
    snapshot: () => counters.snapshot(),
  };
  const outcomes = new Map<string, Outcome>();
  const waiting = new Map<string, ((o: Outcome) => void)[]>();
  const onSettled = (env: Envelope, outcome: Outcome) => {
    outcomes.set(env.id, outcome);
    for (const resolve of waiting.get(env.id) ?? []) resolve(outcome);
    waiting.delete(env.id);
  };

  const stage = await definition.create(
    {
      stageId: options.stageId ?? definition.type,
      logger,
      metrics,
      services,
      baseDir: options.baseDir ?? process.cwd(),
      envelope: (kind, body, meta = {}, onSettle) =>
        onSettle ? createEnvelope(kind, body, meta, onSettle, onSettled) : createEnvelope(kind, body, meta, onSettled),
    },
    config,
  );

  const input$ = new Subject<Envelope>();
  const outputs: Envelope[] = [];
  let onOutput: (() => void) | undefined;
  let subscription: { unsubscribe(): void } | undefined;
  const connect = () => {
    subscription ??= stage.connect(input$).subscribe((env) => {
      outputs.push(env);
      onOutput?.();
    });
  };
  if (options.connect !== false) connect();

  return {
    stage,
    outputs,
    logs,
    connect,
    push(kind, body, meta = {}) {
      const env = createEnvelope(kind, body, meta, onSettled);
      input$.next(env);
      return env;
    },
    outcome: (env) => outcomes.get(env.id),
    settled(env) {
      const known = outcomes.get(env.id);
      if (known) return Promise.resolve(known);
      return new Promise((resolve) => waiting.set(env.id, [...(waiting.get(env.id) ?? []), resolve]));
    },
    emitted(count) {
      if (outputs.length >= count) return Promise.resolve(outputs.slice(0, count));
      return new Promise((resolve) => {
        onOutput = () => {
          if (outputs.length < count) return;
          onOutput = undefined;
          resolve(outputs.slice(0, count));
        };
      });
    },
    counts: () => metrics.snapshot(),
    counted(name, value) {
      if ((metrics.snapshot()[name] ?? 0) >= value) return Promise.resolve();
      return new Promise((resolve) => countWaiters.add({ name, value, resolve }));
    },
    drops() {
      const byReason: Record<string, number> = {};
      for (const o of outcomes.values()) if (o.status === 'dropped') byReason[o.reason] = (byReason[o.reason] ?? 0) + 1;
      return byReason;
    },
    async close() {
      subscription?.unsubscribe();
      input$.complete();
      await stage.close(Date.now() + 1000);
    },
  };
}

export interface FakeMesh extends Mesh {
  /** Every datagram sent from a socket of this mesh. */
  readonly sent: { from: number; address: string; port: number; payload: Uint8Array }[];
  /** Hands `payload` to whatever is bound to `port`, as if it arrived from `from`; false when nothing is. */
  deliver(port: number, payload: Uint8Array, from: MeshEndpoint): boolean;
  /** Addresses `send` reports as unrouted (no peer for them). */
  readonly unrouted: Set<string>;
}

/** ppn0 without WireGuard: sockets in a table, sends recorded, arrivals handed in by the test. */
export function fakeMesh(address = '10.8.0.10'): FakeMesh {
  const bound = new Map<number, (payload: Buffer, from: MeshEndpoint) => void>();
  const sent: FakeMesh['sent'] = [];
  const unrouted = new Set<string>();
  let nextPort = 40000;
  return {
    mode: 'userspace',
    address,
    sent,
    unrouted,
    async bind(port, onMessage): Promise<MeshSocket> {
      const p = port || nextPort++;
      if (bound.has(p)) throw new Error(`mesh port ${p} is taken`);
      bound.set(p, onMessage);
      return {
        port: p,
        send(to, toPort, payload) {
          if (unrouted.has(to)) return false;
          sent.push({ from: p, address: to, port: toPort, payload });
          return true;
        },
        close: () => void bound.delete(p),
      };
    },
    deliver(port, payload, from) {
      const handler = bound.get(port);
      if (!handler) return false;
      handler(Buffer.from(payload), from);
      return true;
    },
    setPeers: () => {},
    whenConnected: async () => {},
    status: () => ({ address, bound: [...bound.keys()] }),
  };
}
