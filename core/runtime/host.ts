// The pipeline host: builds the stage graph of a pipeline file, keeps it running, and reloads it
// by stage id — only added, changed or removed stages are rebuilt, all or nothing. The parts:
// the envelope ledger (ledger.ts), the stage graph (stage-graph.ts), the reload planner
// (reload-plan.ts, pure) and its application (reload-apply.ts). The host knows no particular
// service or plugin folder: its caller passes the service definitions and a plugin loader.
import { basename, resolve } from 'node:path';
import { filter, Observable } from 'rxjs';
import type { Logger } from 'pino';
import { defineService, HOST_SERVICE, type ServiceDefinition } from './define-stage.js';
import type { Envelope } from './envelope.js';
import { topologicalOrder } from './graph.js';
import { createLedger } from './ledger.js';
import { createNodeMetrics, type NodeMetrics } from './node-metrics.js';
import type { PipelineFile } from './pipeline-file.js';
import type { PluginLoader } from './plugins.js';
import { applyReload } from './reload-apply.js';
import { neededServices, planReload, type ReloadPlan } from './reload-plan.js';
import { createServiceSet } from './services.js';
import type { StageInstance } from './slot.js';
import { createStageGraph } from './stage-graph.js';
import { formatValidationError, validatePipelineFile, type GraphRule, type ValidationError, type ValidPipeline } from './validate.js';

export interface HostOptions {
  file: string;
  /** The services this host provides to stages (besides its own 'host'). */
  services: readonly ServiceDefinition[];
  logger: Logger;
  /** Finds stage types: the caller's plugin folders and the file's `plugins`. */
  loader: PluginLoader;
  /** Rules about the whole graph, checked at start-up and every reload (see validate.ts). */
  graphRules?: readonly GraphRule[];
  /** The node's instance directory; by default the file's node.instance, else instance/<name or role>. */
  instanceDir?: string;
  /** How long a replaced stage may take to finish what it holds. */
  retireTimeoutMs?: number;
  /** How many envelopes a stage's slot holds while its stage is swapped; more are dropped. */
  slotBufferLimit?: number;
  /** The process's metrics registry; by default one of the host's own. */
  metrics?: NodeMetrics;
}

export interface ReloadResult {
  ok: boolean;
  added: string[];
  changed: string[];
  removed: string[];
  errors: string[];
}

export interface StageStatus {
  type: string;
  state: string;
  generation: number;
  counters: Record<string, number>;
  details?: Record<string, unknown>;
}

export interface HostStatus {
  file: string;
  role: string;
  node: string;
  startedAt: string;
  inflight: number;
  reloads: { count: number; failed: number; lastAt: string | null; lastError: string | null };
  drops: Record<string, number>;
  stages: Record<string, StageStatus>;
  services: string[];
  /** What running services report (the mesh's peers, the registry…), by service name. */
  serviceStatus: Record<string, Record<string, unknown>>;
  config: PipelineFile;
}

export interface Host {
  readonly file: string;
  readonly instanceDir: string;
  readonly metrics: NodeMetrics;
  reload(): Promise<ReloadResult>;
  /** Rebuilds the named stages from their current config, as a reload that changed them would. */
  restart(stageIds: string[]): Promise<ReloadResult>;
  setLogLevel(level: string): void;
  stop(deadline: number): Promise<void>;
  status(): HostStatus;
  /** A running service's action (the control endpoint's POST /services/<name>/<action>); undefined when there is none. */
  serviceAction(service: string, action: string): Promise<Record<string, unknown>> | undefined;
  /** What a stage emits, as it emits it (for tests, debugging and ingress answers). */
  tap(stageId: string): Observable<Envelope>;
  /** The stage instance currently in a slot: a reload that leaves a stage alone keeps it. */
  instanceOf(stageId: string): StageInstance | undefined;
  /** Module files behind the running stages and the pipeline file: what a file watch should watch. */
  watchedFiles(): string[];
}

/** What the 'host' service gives a stage: its own node's controls. */
export type HostControl = Pick<Host, 'reload' | 'restart' | 'setLogLevel' | 'status'>;

export class PipelineInvalidError extends Error {
  constructor(readonly errors: ValidationError[]) {
    super(`invalid pipeline:\n${errors.map(formatValidationError).join('\n')}`);
    this.name = 'PipelineInvalidError';
  }
}

export async function startHost(options: HostOptions): Promise<Host> {
  const file = resolve(options.file);
  const deps = { loader: options.loader, services: options.services, graphRules: options.graphRules };
  const first = await validatePipelineFile(file, deps);
  if (!first.ok) throw new PipelineInvalidError(first.errors);

  let active: ValidPipeline = first.valid;
  const declared = active.pipeline.node;
  const instanceDir = options.instanceDir
    ? resolve(options.instanceDir)
    : resolve(active.baseDir, declared.instance ?? `instance/${declared.name ?? active.pipeline.role}`);
  const nodeName = declared.name ?? basename(instanceDir);
  const logger = options.logger.child({ node: nodeName });
  // Stages that act on their own node (reload, restart a stage, log level) declare the 'host' service.
  let hostControl: Host | undefined;
  const hostService = defineService<object, HostControl>({
    name: HOST_SERVICE,
    configSchema: { type: 'object' },
    create: () => ({
      reload: () => hostControl!.reload(),
      restart: (ids) => hostControl!.restart(ids),
      setLogLevel: (level) => hostControl!.setLogLevel(level),
      status: () => hostControl!.status(),
    }),
  });
  const definitions = [...options.services, hostService];
  const metrics = options.metrics ?? createNodeMetrics();
  const reloadCounter = metrics.counter('ppn_reloads_total', 'Pipeline reloads, by result (ok, rejected)', ['result']);
  const services = createServiceSet(definitions, { logger, baseDir: active.baseDir, instanceDir, metrics });
  const ledger = createLedger();
  const graph = createStageGraph({ logger, ledger, services, retireTimeoutMs: options.retireTimeoutMs ?? 5_000, slotBufferLimit: options.slotBufferLimit });
  const reloads = { count: 0, failed: 0, lastAt: null as string | null, lastError: null as string | null };
  const startedAt = new Date().toISOString();
  let queue: Promise<unknown> = Promise.resolve();

  // Start: build everything (consumers before producers, so nothing is emitted into the void).
  const order = topologicalOrder(active.pipeline.stages).order;
  await services.sync(active.pipeline, neededServices(active, definitions));
  graph.wire(active.pipeline);
  const built: [string, StageInstance][] = [];
  try {
    for (const id of order) built.push([id, await graph.build(id, active)]);
  } catch (err) {
    for (const [id, instance] of built) await graph.retire(id, instance);
    await services.closeAll();
    throw err;
  }
  for (const [id, instance] of [...built].reverse()) graph.attach(id, instance);
  logger.info({ file, stages: order.length }, 'pipeline running');

  const fail = (plan: Pick<ReloadPlan, 'added' | 'changed' | 'removed'> | null, errors: string[]): ReloadResult => {
    reloads.failed++;
    reloads.lastAt = new Date().toISOString();
    reloads.lastError = errors.join('\n');
    metrics.event(logger, { counter: reloadCounter, labels: { result: 'rejected' }, level: 'warn', msg: 'reload rejected; the running pipeline is unchanged', fields: { errors } });
    return { ok: false, added: plan?.added ?? [], changed: plan?.changed ?? [], removed: plan?.removed ?? [], errors };
  };

  /** Moves the running graph to `next`; stages in `forced` are rebuilt even if unchanged. */
  const apply = async (next: ValidPipeline, forced: Set<string>): Promise<ReloadResult> => {
    // A slot left empty (a stage that could not be restored) is rebuilt whatever the file says.
    for (const id of Object.keys(active.pipeline.stages)) if (!graph.slot(id)?.instance) forced.add(id);
    const plan = planReload(active, next, forced, definitions);
    const applied = await applyReload({ graph, services, definitions }, active, next, plan);
    if (!applied.ok) return fail(plan, applied.errors);
    active = next;
    reloads.count++;
    reloads.lastAt = new Date().toISOString();
    // The last error describes the running pipeline only until a reload succeeds.
    reloads.lastError = null;
    const { added, changed, removed } = plan;
    metrics.event(logger, { counter: reloadCounter, labels: { result: 'ok' }, level: 'info', msg: 'pipeline reloaded', fields: { added, changed, removed } });
    return { ok: true, added, changed, removed, errors: [] };
  };

  let stopped = false;
  /** Reloads run one at a time; each answers with a result, never with a rejection. */
  const enqueue = (work: () => Promise<ReloadResult>) => {
    const run = queue
      .then(() => (stopped ? fail(null, ['host is stopping']) : work()))
      .catch((err: unknown) => fail(null, [`reload failed: ${err instanceof Error ? err.message : String(err)}`]));
    queue = run;
    return run;
  };
  const host: Host = {
    file,
    instanceDir,
    metrics,
    reload: () =>
      enqueue(async () => {
        const result = await validatePipelineFile(file, deps);
        if (!result.ok) return fail(null, result.errors.map(formatValidationError));
        return apply(result.valid, new Set());
      }),
    restart(ids) {
      return enqueue(async () => {
        const unknown = ids.filter((id) => !(id in active.pipeline.stages));
        if (unknown.length) return fail(null, [`no such stage: ${unknown.join(', ')}`]);
        return apply(active, new Set(ids));
      });
    },
    setLogLevel(level) {
      options.logger.level = level;
    },
    async stop(deadline) {
      if (stopped) return;
      stopped = true;
      await queue;
      const ids = topologicalOrder(active.pipeline.stages).order;
      const isSource = (id: string) => graph.slot(id)?.instance?.definition.kind === 'source';
      for (const id of ids.filter(isSource)) await graph.retire(id, graph.slot(id)!.detach());
      await ledger.drained(deadline);
      for (const id of ids) await graph.retire(id, graph.slot(id)?.detach() ?? null);
      ledger.failAll('host stopped before it was settled');
      for (const id of graph.slotIds()) graph.removeSlot(id);
      await services.closeAll();
      logger.info('pipeline stopped');
    },
    status() {
      const stages: Record<string, StageStatus> = {};
      for (const [id, spec] of Object.entries(active.pipeline.stages)) {
        const slot = graph.slot(id);
        const instance = slot?.instance;
        stages[id] = {
          type: spec.type,
          state: slot?.state() ?? 'empty',
          generation: instance?.generation ?? 0,
          counters: ledger.metricsOf(id).snapshot(),
          ...(instance?.stage.status && { details: instance.stage.status() }),
        };
      }
      return {
        file,
        role: active.pipeline.role,
        node: nodeName,
        startedAt,
        inflight: ledger.inflight,
        reloads: { ...reloads },
        drops: ledger.drops(),
        stages,
        services: services.names(),
        serviceStatus: services.statuses(),
        config: active.pipeline,
      };
    },
    serviceAction: (service, action) => services.action(service, action),
    tap(stageId) {
      return new Observable<Envelope>((sub) =>
        graph.taps.pipe(filter((t) => t.id === stageId)).subscribe((t) => sub.next(t.env)),
      );
    },
    instanceOf(stageId) {
      return graph.slot(stageId)?.instance ?? undefined;
    },
    watchedFiles() {
      const files = new Set([file]);
      for (const p of active.plugins.values()) if (!p.file.includes('/node_modules/')) files.add(p.file);
      return [...files];
    },
  };
  hostControl = host;
  return host;
}
