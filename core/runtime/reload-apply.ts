// Carries out a reload plan on the running graph, all or nothing: new instances are built first
// (beside the old ones where they can be, after them where they take over a port or a changed
// service), then swapped in together; a failure puts back what it had closed.
import type { ServiceDefinition } from './define-stage.js';
import { topologicalOrder } from './graph.js';
import { neededServices, type ReloadPlan } from './reload-plan.js';
import type { ServiceSet } from './services.js';
import type { StageInstance } from './slot.js';
import type { StageGraph } from './stage-graph.js';
import type { ValidPipeline } from './validate.js';

export interface ReloadTarget {
  graph: StageGraph;
  services: ServiceSet;
  /** Every service the host provides (its own included). */
  definitions: readonly ServiceDefinition[];
}

export type ApplyResult = { ok: true } | { ok: false; errors: string[] };

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

export async function applyReload(t: ReloadTarget, prev: ValidPipeline, next: ValidPipeline, plan: ReloadPlan): Promise<ApplyResult> {
  const { graph, services } = t;
  const servicesChanged = plan.services.changed.length > 0;
  const syncTo = (valid: ValidPipeline) => services.sync(valid.pipeline, neededServices(valid, t.definitions));
  /** Services back as the previous file has them; a failure is reported, not thrown. */
  const servicesBack = async (): Promise<string[]> => {
    try {
      await syncTo(prev);
      return [];
    } catch (err) {
      return [`could not restore the services: ${message(err)}`];
    }
  };

  // Services the new file needs and nothing running depends on: up before any stage uses them.
  if (plan.services.startFirst.length) {
    try {
      await services.start(next.pipeline, plan.services.startFirst);
    } catch (err) {
      return { ok: false, errors: [`service start failed: ${message(err)}`, ...(await servicesBack())] };
    }
  }

  // Phase A: build what can run beside its predecessor. Nothing running is touched yet.
  const fresh = new Map<string, StageInstance>();
  const discardFresh = async () => {
    for (const [id, instance] of fresh) await graph.retire(id, instance);
  };
  try {
    for (const id of plan.buildBeside) fresh.set(id, await graph.build(id, next));
  } catch (err) {
    await discardFresh();
    const restoreErrors = plan.services.startFirst.length ? await servicesBack() : [];
    return { ok: false, errors: [`stage start failed: ${message(err)}`, ...restoreErrors] };
  }

  // Phase B: stages that take over a port or a changed service: the holder closes first while
  // its slot holds arriving envelopes.
  const retiredFirst = new Map<string, StageInstance>();
  if (plan.retireFirst.length || plan.closeFirst.length) {
    for (const id of plan.retireFirst) {
      const slot = graph.slot(id)!;
      slot.pause();
      const old = slot.detach();
      if (old) {
        retiredFirst.set(id, old);
        await graph.retire(id, old);
      }
    }
    try {
      if (servicesChanged) await syncTo(next);
      for (const id of plan.closeFirst) fresh.set(id, await graph.build(id, next));
    } catch (err) {
      await discardFresh();
      const serviceErrors = servicesChanged || plan.services.startFirst.length ? await servicesBack() : [];
      const restoreErrors = await restore(graph, prev, retiredFirst);
      return { ok: false, errors: [`stage start failed: ${message(err)}`, ...serviceErrors, ...restoreErrors] };
    }
  }

  // Phase C: commit. Rewire, put every new instance in its slot, retire what it replaced.
  graph.wire(next.pipeline);
  const retirements: Promise<void>[] = [];
  for (const id of [...plan.order].reverse()) {
    const instance = fresh.get(id);
    if (instance) retirements.push(graph.retire(id, graph.attach(id, instance)));
  }
  for (const id of plan.retireFirst) graph.slot(id)?.resume();
  for (const id of plan.removed) {
    const slot = graph.slot(id);
    if (!slot) continue;
    retirements.push(graph.retire(id, slot.detach()));
    slot.resume();
    graph.removeSlot(id);
  }
  await Promise.all(retirements);
  if (!servicesChanged) await syncTo(next);
  return { ok: true };
}

/** Puts back the instances a failed reload had already closed, from the previous file. */
async function restore(graph: StageGraph, prev: ValidPipeline, retired: Map<string, StageInstance>): Promise<string[]> {
  const errors: string[] = [];
  for (const id of topologicalOrder(prev.pipeline.stages).order.reverse()) {
    if (!retired.has(id)) continue;
    try {
      graph.attach(id, await graph.build(id, prev));
    } catch (err) {
      graph.slot(id)?.markFailed();
      errors.push(`could not restore stage ${id}: ${message(err)}`);
    }
    graph.slot(id)?.resume();
  }
  return errors;
}
