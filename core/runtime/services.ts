// Service instances of a running host, keyed by name, created from the pipeline file's settings.
import 'reflect-metadata'; // tsyringe refuses to load without it
import { container } from 'tsyringe';
import type { Logger } from 'pino';
import type { ServiceDefinition, Services } from './define-stage.js';
import type { NodeMetrics } from './node-metrics.js';
import type { PipelineFile } from './pipeline-file.js';
import { checkSchema, formatProblems } from './schema-check.js';

interface RunningService {
  definition: ServiceDefinition;
  configJson: string;
  instance: unknown;
}

/** A service's settings as the file gives them: its section, or its entry under `services`. */
export function serviceSettings(definition: ServiceDefinition, pipeline: PipelineFile): unknown {
  const file = pipeline as unknown as Record<string, unknown>;
  return definition.section ? file[definition.section.key] : pipeline.services[definition.name];
}

/** The settings of one service, checked, with defaults filled in. */
function serviceConfig(definition: ServiceDefinition, pipeline: PipelineFile): Record<string, unknown> {
  const raw = structuredClone((serviceSettings(definition, pipeline) as Record<string, unknown> | undefined) ?? {});
  const problems = checkSchema(definition.configSchema, raw);
  if (problems.length) throw new Error(`service '${definition.name}': ${formatProblems(problems)}`);
  return raw;
}

/** `wanted` and everything it is built on, dependencies first. */
export function withDependencies(wanted: Iterable<string>, definitions: readonly ServiceDefinition[]): Set<string> {
  const byName = new Map(definitions.map((d) => [d.name, d]));
  const ordered = new Set<string>();
  const visit = (name: string, path: string[]) => {
    if (ordered.has(name)) return;
    if (path.includes(name)) throw new Error(`services depend on each other in a circle: ${[...path, name].join(' -> ')}`);
    const definition = byName.get(name);
    if (!definition) throw new Error(`unknown service '${name}'`);
    for (const dep of definition.services ?? []) visit(dep, [...path, name]);
    ordered.add(name);
  };
  for (const name of wanted) visit(name, []);
  return ordered;
}

export interface ServiceSet {
  /**
   * Brings the running services in line with `pipeline`: those wanted and what they are built on.
   * Returns the names that were (re)created; a service is recreated when a dependency was.
   */
  sync(pipeline: PipelineFile, wanted: Set<string>): Promise<Set<string>>;
  /** Starts those of `names` (and what they are built on) that are not running; touches no other. */
  start(pipeline: PipelineFile, names: readonly string[]): Promise<void>;
  /** A child container holding exactly the named services. */
  containerFor(names: readonly string[]): Services;
  closeAll(): Promise<void>;
  names(): string[];
  /** What each running service that reports a status says, by name. */
  statuses(): Record<string, Record<string, unknown>>;
  /** Runs a running service's action (ServiceDefinition.actions); undefined when there is no such service or action. */
  action(service: string, action: string): Promise<Record<string, unknown>> | undefined;
}

export function createServiceSet(
  definitions: readonly ServiceDefinition[],
  ctx: { logger: Logger; baseDir: string; instanceDir: string; metrics: NodeMetrics },
): ServiceSet {
  const byName = new Map(definitions.map((d) => [d.name, d]));
  const running = new Map<string, RunningService>();

  /** Closes a service; one that fails to (e.g. EROFS on a read-only disk) is gone all the same. */
  const close = async (name: string) => {
    const s = running.get(name);
    running.delete(name);
    try {
      if (s) await s.definition.close?.(s.instance);
    } catch (err) {
      ctx.logger.warn({ service: name, err: String(err) }, 'service did not close cleanly');
    }
  };

  const create = async (definition: ServiceDefinition, config: Record<string, unknown>, containerFor: ServiceSet['containerFor']) => {
    const deps = containerFor(definition.services ?? []);
    const instance = await definition.create({ ...ctx, logger: ctx.logger.child({ service: definition.name }) }, config, deps);
    running.set(definition.name, { definition, configJson: JSON.stringify(config), instance });
  };

  return {
    async sync(pipeline, wanted) {
      const needed = withDependencies(wanted, definitions);
      const changed = new Set<string>();
      for (const name of [...running.keys()].reverse()) if (!needed.has(name)) await close(name);
      for (const name of needed) {
        const definition = byName.get(name)!;
        const config = serviceConfig(definition, pipeline);
        const configJson = JSON.stringify(config);
        const dependencyChanged = (definition.services ?? []).some((d) => changed.has(d));
        if (running.get(name)?.configJson === configJson && !dependencyChanged) continue;
        await close(name);
        await create(definition, config, this.containerFor);
        changed.add(name);
      }
      return changed;
    },
    async start(pipeline, names) {
      for (const name of withDependencies(names, definitions)) {
        const definition = byName.get(name)!;
        if (!running.has(name)) await create(definition, serviceConfig(definition, pipeline), this.containerFor);
      }
    },
    containerFor(names) {
      const child = container.createChildContainer();
      for (const name of names) {
        const s = running.get(name);
        if (!s) throw new Error(`service '${name}' is not running`);
        child.register(name, { useValue: s.instance });
      }
      return { get: (token) => child.resolve(token) };
    },
    async closeAll() {
      for (const name of [...running.keys()].reverse()) await close(name);
    },
    names() {
      return [...running.keys()];
    },
    action(service, action) {
      const s = running.get(service);
      const actions = s?.definition.actions?.(s.instance) ?? {};
      const run = Object.hasOwn(actions, action) ? actions[action] : undefined;
      return run && Promise.resolve().then(run);
    },
    statuses() {
      const out: Record<string, Record<string, unknown>> = {};
      for (const [name, s] of running) {
        if (!s.definition.status) continue;
        try {
          out[name] = s.definition.status(s.instance);
        } catch (err) {
          out[name] = { error: `status failed: ${(err as Error).message}` };
        }
      }
      return out;
    },
  };
}
