// The pipeline host: builds the stage graph of a pipeline file, keeps it running, and reloads it
// by stage id — only added, changed or removed stages are rebuilt, all or nothing.
import { basename, resolve } from 'node:path';
import { filter, Observable, Subject, type Subscription } from 'rxjs';
import type { Logger } from 'pino';
import { defineService, HOST_SERVICE, type ServiceDefinition, type StageContext } from './define-stage.js';
import { createEnvelope, fork, type Envelope, type Outcome, type SettleListener } from './envelope.js';
import { consumersOf, topologicalOrder } from './graph.js';
import { createMetrics, type StageMetrics } from './metrics.js';
import type { PipelineFile } from './pipeline-file.js';
import { createPluginLoader, type LoadedPlugin, type PluginLoader } from './plugins.js';
import { createServiceSet } from './services.js';
import { createSlot, retire, type Slot, type StageInstance } from './slot.js';
import { formatValidationError, validatePipelineFile, type ValidationError, type ValidPipeline } from './validate.js';

export interface HostOptions {
  file: string;
  services: readonly ServiceDefinition[];
  logger: Logger;
  loader?: PluginLoader;
  /** The node's instance directory; by default the file's node.instance, else instance/<name or role>. */
  instanceDir?: string;
  /** How long a replaced stage may take to finish what it holds. */
  retireTimeoutMs?: number;
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
  config: PipelineFile;
}

export interface Host {
  readonly file: string;
  readonly instanceDir: string;
  reload(): Promise<ReloadResult>;
  /** Rebuilds the named stages from their current config, as a reload that changed them would. */
  restart(stageIds: string[]): Promise<ReloadResult>;
  setLogLevel(level: string): void;
  stop(deadline: number): Promise<void>;
  status(): HostStatus;
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
  const loader = options.loader ?? createPluginLoader();
  const deps = { loader, services: options.services };
  const retireTimeoutMs = options.retireTimeoutMs ?? 5_000;
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
  const services = createServiceSet([...options.services, hostService], { logger, baseDir: active.baseDir, instanceDir });
  const slots = new Map<string, Slot>();
  const outputSubscriptions = new Map<string, Subscription>();
  const metrics = new Map<string, StageMetrics>();
  const generations = new Map<string, number>();
  let consumers = new Map<string, string[]>();
  const inflight = new Map<string, Envelope>();
  /** Where each unsettled envelope is (by id): its outcome is counted on that stage. */
  const location = new Map<string, string>();
  const forkedParents = new Set<string>();
  const drops = new Map<string, number>();
  const taps = new Subject<{ id: string; env: Envelope }>();
  let onDrained: (() => void) | null = null;
  const reloads = { count: 0, failed: 0, lastAt: null as string | null, lastError: null as string | null };
  const startedAt = new Date().toISOString();
  let queue: Promise<unknown> = Promise.resolve();

  const metricsOf = (id: string) => {
    let m = metrics.get(id);
    if (!m) metrics.set(id, (m = createMetrics()));
    return m;
  };

  const onSettled: SettleListener = (env, outcome) => {
    inflight.delete(env.id);
    if (!forkedParents.delete(env.id)) countOutcome(location.get(env.id), outcome);
    location.delete(env.id);
    if (inflight.size === 0) onDrained?.();
  };

  const countOutcome = (id: string | undefined, outcome: Outcome) => {
    const m = id ? metricsOf(id) : undefined;
    if (outcome.status === 'dropped') {
      drops.set(outcome.reason, (drops.get(outcome.reason) ?? 0) + 1);
      m?.count(`dropped.${outcome.reason}`);
    } else {
      m?.count(outcome.status);
    }
  };

  const deliver = (id: string, env: Envelope) => {
    if (!env.settled) location.set(env.id, id);
    metricsOf(id).count('in');
    const slot = slots.get(id);
    if (slot) slot.push(env);
    else env.settle({ status: 'dropped', reason: 'stage-removed' });
  };

  const dispatch = (fromId: string, env: Envelope) => {
    metricsOf(fromId).count('out');
    taps.next({ id: fromId, env });
    if (!(fromId in active.pipeline.stages)) {
      env.settle({ status: 'dropped', reason: 'stage-removed' });
      return;
    }
    const targets = consumers.get(fromId) ?? [];
    if (targets.length === 0) env.settle({ status: 'delivered' });
    else if (targets.length === 1) deliver(targets[0], env);
    else {
      forkedParents.add(env.id);
      fork(env, targets.length, onSettled).forEach((child, i) => deliver(targets[i], child));
    }
  };

  const slotFor = (id: string) => {
    let slot = slots.get(id);
    if (!slot) {
      slot = createSlot(id, (env, reason) => env.settle({ status: 'dropped', reason }));
      slots.set(id, slot);
      outputSubscriptions.set(id, slot.output.subscribe((env) => dispatch(id, env)));
    }
    return slot;
  };

  const removeSlot = (id: string) => {
    outputSubscriptions.get(id)?.unsubscribe();
    outputSubscriptions.delete(id);
    slots.delete(id);
  };

  const build = async (id: string, valid: ValidPipeline): Promise<StageInstance> => {
    const spec = valid.pipeline.stages[id];
    const plugin = valid.plugins.get(id) as LoadedPlugin;
    const definition = plugin.definition;
    const stageLogger = logger.child({ stage: id });
    const ctx: StageContext = {
      stageId: id,
      logger: stageLogger,
      metrics: metricsOf(id),
      services: services.containerFor(definition.services ?? []),
      baseDir: valid.baseDir,
      envelope(kind, body, meta = {}, onSettle) {
        const env = onSettle ? createEnvelope(kind, body, meta, onSettle, onSettled) : createEnvelope(kind, body, meta, onSettled);
        location.set(env.id, id);
        inflight.set(env.id, env);
        return env;
      },
    };
    const generation = (generations.get(id) ?? 0) + 1;
    const stage = await definition.create(ctx, structuredClone(spec.config));
    generations.set(id, generation);
    metricsOf(id).count('builds');
    stageLogger.info({ type: definition.type, generation }, 'stage started');
    return { stage, spec, definition, pluginHash: plugin.hash, generation, input: new Subject<Envelope>() };
  };

  const attach = (id: string, instance: StageInstance): StageInstance | null =>
    slotFor(id).attach(instance, (err) => {
      metricsOf(id).count('errors');
      logger.error({ stage: id, err: String(err) }, 'stage failed; its input is dropped until it is replaced');
    });

  const retireQuietly = async (id: string, instance: StageInstance | null) => {
    if (!instance) return;
    try {
      await retire(instance, Date.now() + retireTimeoutMs);
    } catch (err) {
      logger.warn({ stage: id, err: String(err) }, 'stage did not close cleanly');
    }
  };

  const neededServices = (valid: ValidPipeline) => {
    const needed = new Set<string>([...Object.keys(valid.pipeline.services)]);
    if (valid.pipeline.mesh) needed.add('mesh');
    for (const p of valid.plugins.values()) for (const s of p.definition.services ?? []) needed.add(s);
    return needed;
  };

  const portsOf = (instance: { spec: { config: unknown }; definition: { ports?(c: unknown): string[] } }) =>
    instance.definition.ports?.(instance.spec.config) ?? [];

  // Start: build everything (consumers before producers, so nothing is emitted into the void).
  const order = topologicalOrder(active.pipeline.stages).order;
  await services.sync(active.pipeline, neededServices(active));
  consumers = consumersOf(active.pipeline.stages);
  const built: [string, StageInstance][] = [];
  try {
    for (const id of order) built.push([id, await build(id, active)]);
  } catch (err) {
    for (const [id, instance] of built) await retireQuietly(id, instance);
    await services.closeAll();
    throw err;
  }
  for (const [id, instance] of [...built].reverse()) attach(id, instance);
  logger.info({ file, stages: order.length }, 'pipeline running');

  const doReload = async (): Promise<ReloadResult> => {
    const result = await validatePipelineFile(file, deps);
    if (!result.ok) return fail([], [], [], result.errors.map(formatValidationError));
    return apply(result.valid, new Set());
  };

  /** Moves the running graph to `next`; stages in `forced` are rebuilt even if unchanged. */
  const apply = async (next: ValidPipeline, forced: Set<string>): Promise<ReloadResult> => {
    const prev = active;
    const changedServices = withDependents(diffServices(prev, next), options.services);
    const prevIds = Object.keys(prev.pipeline.stages);
    const nextIds = Object.keys(next.pipeline.stages);
    const added = nextIds.filter((id) => !(id in prev.pipeline.stages));
    const removed = prevIds.filter((id) => !(id in next.pipeline.stages));
    const changed = nextIds.filter((id) => {
      if (!(id in prev.pipeline.stages)) return false;
      const running = slots.get(id)?.instance;
      const plugin = next.plugins.get(id)!;
      return (
        forced.has(id) ||
        !running ||
        JSON.stringify(running.spec) !== JSON.stringify(next.pipeline.stages[id]) ||
        running.pluginHash !== plugin.hash ||
        (plugin.definition.services ?? []).some((s) => changedServices.has(s))
      );
    });

    const retiringPorts = new Map<string, string>();
    for (const id of [...changed, ...removed]) {
      const running = slots.get(id)?.instance;
      if (running) for (const port of portsOf(running)) retiringPorts.set(port, id);
    }
    const closeFirst = new Set<string>();
    const retireFirst = new Set<string>();
    for (const id of [...added, ...changed]) {
      const ports = portsOf({ spec: next.pipeline.stages[id], definition: next.plugins.get(id)!.definition });
      const usesChangedService = (next.plugins.get(id)!.definition.services ?? []).some((s) => changedServices.has(s));
      const holders = ports.map((p) => retiringPorts.get(p)).filter((h): h is string => h !== undefined);
      if (holders.length || usesChangedService) closeFirst.add(id);
      for (const h of holders) retireFirst.add(h);
      if (usesChangedService && changed.includes(id)) retireFirst.add(id);
    }
    for (const id of prevIds) {
      const uses = prev.plugins.get(id)!.definition.services ?? [];
      if (uses.some((s) => changedServices.has(s))) retireFirst.add(id);
    }
    const newFirst = [...added, ...changed].filter((id) => !closeFirst.has(id));
    const nextOrder = topologicalOrder(next.pipeline.stages).order;

    // Phase A: build what can run beside its predecessor. Nothing running is touched yet.
    const fresh = new Map<string, StageInstance>();
    try {
      for (const id of nextOrder) if (newFirst.includes(id)) fresh.set(id, await build(id, next));
    } catch (err) {
      for (const [id, instance] of fresh) await retireQuietly(id, instance);
      return fail(added, changed, removed, [`stage start failed: ${(err as Error).message}`]);
    }

    // Phase B: stages that take over a port or a changed service: the holder closes first while
    // its slot holds arriving envelopes.
    const retiredFirst = new Map<string, StageInstance>();
    if (retireFirst.size || closeFirst.size) {
      for (const id of retireFirst) {
        const slot = slots.get(id)!;
        slot.pause();
        const old = slot.detach();
        if (old) {
          retiredFirst.set(id, old);
          await retireQuietly(id, old);
        }
      }
      try {
        if (changedServices.size) await services.sync(next.pipeline, neededServices(next));
        for (const id of nextOrder) if (closeFirst.has(id)) fresh.set(id, await build(id, next));
      } catch (err) {
        for (const [id, instance] of fresh) await retireQuietly(id, instance);
        const restoreErrors = await restore(prev, retiredFirst, changedServices.size > 0);
        return fail(added, changed, removed, [`stage start failed: ${(err as Error).message}`, ...restoreErrors]);
      }
    }

    // Phase C: commit. Rewire, put every new instance in its slot, retire what it replaced.
    active = next;
    consumers = consumersOf(next.pipeline.stages);
    const retirements: Promise<void>[] = [];
    for (const id of [...nextOrder].reverse()) {
      const instance = fresh.get(id);
      if (instance) retirements.push(retireQuietly(id, attach(id, instance)));
    }
    for (const id of retireFirst) slots.get(id)?.resume();
    for (const id of removed) {
      const slot = slots.get(id);
      if (!slot) continue;
      retirements.push(retireQuietly(id, slot.detach()));
      slot.resume();
      removeSlot(id);
    }
    await Promise.all(retirements);
    if (!changedServices.size) await services.sync(next.pipeline, neededServices(next));
    reloads.count++;
    reloads.lastAt = new Date().toISOString();
    logger.info({ added, changed, removed }, 'pipeline reloaded');
    return { ok: true, added, changed, removed, errors: [] };
  };

  /** Puts back the instances a failed reload had already closed, from the previous file. */
  const restore = async (prev: ValidPipeline, retired: Map<string, StageInstance>, servicesChanged: boolean) => {
    const errors: string[] = [];
    if (servicesChanged) await services.sync(prev.pipeline, neededServices(prev));
    for (const id of topologicalOrder(prev.pipeline.stages).order.reverse()) {
      if (!retired.has(id)) continue;
      try {
        attach(id, await build(id, prev));
      } catch (err) {
        slots.get(id)?.markFailed();
        errors.push(`could not restore stage ${id}: ${(err as Error).message}`);
      }
      slots.get(id)?.resume();
    }
    return errors;
  };

  const fail = (added: string[], changed: string[], removed: string[], errors: string[]): ReloadResult => {
    reloads.failed++;
    reloads.lastAt = new Date().toISOString();
    reloads.lastError = errors.join('\n');
    logger.warn({ errors }, 'reload rejected; the running pipeline is unchanged');
    return { ok: false, added, changed, removed, errors };
  };

  let stopped = false;
  const enqueue = (work: () => Promise<ReloadResult>) => {
    const run = queue.then(() => (stopped ? fail([], [], [], ['host is stopping']) : work()));
    queue = run.catch(() => undefined);
    return run;
  };
  const host: Host = {
    file,
    instanceDir,
    reload: () => enqueue(doReload),
    restart(ids) {
      return enqueue(async () => {
        const unknown = ids.filter((id) => !(id in active.pipeline.stages));
        if (unknown.length) return fail([], [], [], [`no such stage: ${unknown.join(', ')}`]);
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
      const isSource = (id: string) => slots.get(id)?.instance?.definition.kind === 'source';
      for (const id of ids.filter(isSource)) await retireQuietly(id, slots.get(id)!.detach());
      if (inflight.size) {
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((r) => {
          onDrained = r;
          timer = setTimeout(r, Math.max(0, deadline - Date.now()));
        });
        clearTimeout(timer);
      }
      for (const id of ids) await retireQuietly(id, slots.get(id)?.detach() ?? null);
      for (const env of [...inflight.values()]) env.settle({ status: 'failed', error: 'host stopped before it was settled' });
      for (const id of [...slots.keys()]) removeSlot(id);
      await services.closeAll();
      logger.info('pipeline stopped');
    },
    status() {
      const stages: Record<string, StageStatus> = {};
      for (const [id, spec] of Object.entries(active.pipeline.stages)) {
        const slot = slots.get(id);
        const instance = slot?.instance;
        stages[id] = {
          type: spec.type,
          state: slot?.state() ?? 'empty',
          generation: instance?.generation ?? 0,
          counters: metricsOf(id).snapshot(),
          ...(instance?.stage.status && { details: instance.stage.status() }),
        };
      }
      return {
        file,
        role: active.pipeline.role,
        node: nodeName,
        startedAt,
        inflight: inflight.size,
        reloads: { ...reloads },
        drops: Object.fromEntries(drops),
        stages,
        services: services.names(),
        config: active.pipeline,
      };
    },
    tap(stageId) {
      return new Observable<Envelope>((sub) =>
        taps.pipe(filter((t) => t.id === stageId)).subscribe((t) => sub.next(t.env)),
      );
    },
    instanceOf(stageId) {
      return slots.get(stageId)?.instance ?? undefined;
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

function diffServices(prev: ValidPipeline, next: ValidPipeline): Set<string> {
  const settings = (p: PipelineFile) => ({ ...p.services, ...(p.mesh && { mesh: p.mesh }) });
  const a: Record<string, unknown> = settings(prev.pipeline);
  const b: Record<string, unknown> = settings(next.pipeline);
  const names = new Set([...Object.keys(a), ...Object.keys(b)]);
  return new Set([...names].filter((n) => JSON.stringify(a[n]) !== JSON.stringify(b[n])));
}

/** The changed services and every service built on one of them: all of those are recreated. */
function withDependents(changed: Set<string>, definitions: readonly ServiceDefinition[]): Set<string> {
  const all = new Set(changed);
  let grew = true;
  while (grew) {
    grew = false;
    for (const d of definitions) {
      if (!all.has(d.name) && (d.services ?? []).some((s) => all.has(s))) {
        all.add(d.name);
        grew = true;
      }
    }
  }
  return all;
}
