// The reload planner: what moving a running pipeline from one validated file to the next means,
// as a plain value (as Vector's config diff). Pure: it reads the two files and the service
// definitions, starts nothing, and is table-tested on its own (test/runtime/reload-plan.test.ts).
import type { ServiceDefinition, StageDefinition } from './define-stage.js';
import { topologicalOrder } from './graph.js';
import type { PipelineFile } from './pipeline-file.js';
import { serviceSettings, withDependencies } from './services.js';

/** What the planner reads of a validated pipeline (a ValidPipeline is one). */
export interface PlannedPipeline {
  pipeline: PipelineFile;
  plugins: ReadonlyMap<string, { hash: string; definition: Pick<StageDefinition, 'services' | 'ports'> }>;
}

export interface ReloadPlan {
  /** Stage ids, in file order. */
  added: string[];
  changed: string[];
  removed: string[];
  services: {
    /** Running services that are recreated: their settings changed, or what they are built on. */
    changed: string[];
    /** Services the new file needs that are not running and depend on nothing that changes:
     *  started before any new stage is built. */
    startFirst: string[];
  };
  /** Ports that pass from a retiring stage to a new instance: port → the id holding it now. */
  sharedPorts: Record<string, string>;
  /** Running instances closed before their successors start (port holders, users of changed services). */
  retireFirst: string[];
  /** New instances built only once retireFirst is closed (and changed services recreated). */
  closeFirst: string[];
  /** New instances built beside the running ones, in build order (inputs first). */
  buildBeside: string[];
  /** Stage ids of the new file, inputs first. */
  order: string[];
}

/** The services a pipeline asks for: configured in the file, or declared by one of its stages. */
export function neededServices(p: PlannedPipeline, definitions: readonly ServiceDefinition[]): Set<string> {
  const needed = new Set<string>(Object.keys(p.pipeline.services));
  for (const d of definitions) if (d.section && serviceSettings(d, p.pipeline) !== undefined) needed.add(d.name);
  for (const plugin of p.plugins.values()) for (const s of plugin.definition.services ?? []) needed.add(s);
  return needed;
}

/**
 * Plans the move from `prev` (running) to `next`. Stages in `forced` are rebuilt even if their
 * file entry did not change (a restart, or a slot left empty by a failed restore).
 */
export function planReload(
  prev: PlannedPipeline,
  next: PlannedPipeline,
  forced: ReadonlySet<string>,
  definitions: readonly ServiceDefinition[],
): ReloadPlan {
  const known = new Set(definitions.map((d) => d.name));
  const closure = (p: PlannedPipeline) => withDependencies([...neededServices(p, definitions)].filter((n) => known.has(n)), definitions);
  const running = closure(prev);
  const changedServices = withDependents(diffServiceSettings(prev, next, definitions), definitions);
  // A service that is new and built on nothing that changes can start before any stage is built;
  // the others are (re)created with the changed ones, after the stages using those closed.
  const startFirst = [...closure(next)].filter((n) => !running.has(n) && !changedServices.has(n));

  const prevStages = prev.pipeline.stages;
  const nextStages = next.pipeline.stages;
  const usesChanged = (p: PlannedPipeline, id: string) => (p.plugins.get(id)!.definition.services ?? []).some((s) => changedServices.has(s));
  const added = Object.keys(nextStages).filter((id) => !(id in prevStages));
  const removed = Object.keys(prevStages).filter((id) => !(id in nextStages));
  const changed = Object.keys(nextStages).filter(
    (id) =>
      id in prevStages &&
      (forced.has(id) ||
        JSON.stringify(prevStages[id]) !== JSON.stringify(nextStages[id]) ||
        prev.plugins.get(id)!.hash !== next.plugins.get(id)!.hash ||
        usesChanged(next, id)),
  );

  const portsOf = (p: PlannedPipeline, id: string) => p.plugins.get(id)!.definition.ports?.(p.pipeline.stages[id].config) ?? [];
  const retiringPorts = new Map<string, string>();
  for (const id of [...changed, ...removed]) for (const port of portsOf(prev, id)) retiringPorts.set(port, id);

  const sharedPorts: Record<string, string> = {};
  const closeFirst = new Set<string>();
  const retireFirst = new Set<string>();
  for (const id of [...added, ...changed]) {
    const holders = portsOf(next, id).filter((p) => retiringPorts.has(p));
    for (const port of holders) sharedPorts[port] = retiringPorts.get(port)!;
    const uses = usesChanged(next, id);
    if (holders.length || uses) closeFirst.add(id);
    for (const port of holders) retireFirst.add(retiringPorts.get(port)!);
    if (uses && changed.includes(id)) retireFirst.add(id);
  }
  for (const id of Object.keys(prevStages)) if (usesChanged(prev, id)) retireFirst.add(id);

  const order = topologicalOrder(nextStages).order;
  return {
    added,
    changed,
    removed,
    services: { changed: [...changedServices], startFirst },
    sharedPorts,
    retireFirst: [...retireFirst],
    closeFirst: order.filter((id) => closeFirst.has(id)),
    buildBeside: order.filter((id) => (added.includes(id) || changed.includes(id)) && !closeFirst.has(id)),
    order,
  };
}

/** Services whose settings differ between the two files. */
function diffServiceSettings(prev: PlannedPipeline, next: PlannedPipeline, definitions: readonly ServiceDefinition[]): Set<string> {
  const names = new Set([...Object.keys(prev.pipeline.services), ...Object.keys(next.pipeline.services), ...definitions.filter((d) => d.section).map((d) => d.name)]);
  const byName = new Map(definitions.map((d) => [d.name, d]));
  const settings = (p: PlannedPipeline, name: string) => {
    const d = byName.get(name);
    return d ? serviceSettings(d, p.pipeline) : p.pipeline.services[name];
  };
  return new Set([...names].filter((n) => JSON.stringify(settings(prev, n)) !== JSON.stringify(settings(next, n))));
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
