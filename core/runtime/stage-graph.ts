// The running stage graph: a slot per stage id, wired to the slots of its consumers, and the
// building, attaching and retiring of the stage instances in those slots.
import { Subject, type Subscription } from 'rxjs';
import type { Logger } from 'pino';
import type { StageContext } from './define-stage.js';
import { createEnvelope, type Envelope } from './envelope.js';
import { consumersOf } from './graph.js';
import type { Ledger } from './ledger.js';
import type { PipelineFile } from './pipeline-file.js';
import type { ServiceSet } from './services.js';
import { createSlot, retire, type Slot, type StageInstance } from './slot.js';
import type { ValidPipeline } from './validate.js';

export interface StageGraph {
  /** From now on, envelopes flow along the edges of `pipeline`. */
  wire(pipeline: PipelineFile): void;
  /** A new instance of stage `id` as `valid` describes it; not attached yet. */
  build(id: string, valid: ValidPipeline): Promise<StageInstance>;
  /** Puts `instance` in its slot; returns the instance it replaced. */
  attach(id: string, instance: StageInstance): StageInstance | null;
  /** Closes an instance that no longer receives input; a failure to close is logged, not thrown. */
  retire(id: string, instance: StageInstance | null): Promise<void>;
  slot(id: string): Slot | undefined;
  /** Drops the slot of a stage that is gone. */
  removeSlot(id: string): void;
  slotIds(): string[];
  /** What stage `id` emits, as it emits it. */
  readonly taps: Subject<{ id: string; env: Envelope }>;
}

export interface StageGraphOptions {
  logger: Logger;
  ledger: Ledger;
  services: ServiceSet;
  retireTimeoutMs: number;
  /** How many envelopes a paused slot holds before it drops (see createSlot). */
  slotBufferLimit?: number;
}

export function createStageGraph(o: StageGraphOptions): StageGraph {
  const { logger, ledger } = o;
  const slots = new Map<string, Slot>();
  const outputSubscriptions = new Map<string, Subscription>();
  const generations = new Map<string, number>();
  const taps = new Subject<{ id: string; env: Envelope }>();
  let stageIds = new Set<string>();
  let consumers = new Map<string, string[]>();

  const deliver = (id: string, env: Envelope) => {
    ledger.at(env, id);
    ledger.metricsOf(id).count('in');
    const slot = slots.get(id);
    if (slot) slot.push(env);
    else env.settle({ status: 'dropped', reason: 'stage-removed' });
  };

  const dispatch = (fromId: string, env: Envelope) => {
    ledger.metricsOf(fromId).count('out');
    taps.next({ id: fromId, env });
    if (!stageIds.has(fromId)) {
      env.settle({ status: 'dropped', reason: 'stage-removed' });
      return;
    }
    const targets = consumers.get(fromId) ?? [];
    if (targets.length === 0) env.settle({ status: 'delivered' });
    else if (targets.length === 1) deliver(targets[0], env);
    else ledger.fork(env, targets.length).forEach((child, i) => deliver(targets[i], child));
  };

  const slotFor = (id: string) => {
    let slot = slots.get(id);
    if (!slot) {
      slot = createSlot(id, (env, reason) => env.settle({ status: 'dropped', reason }), { bufferLimit: o.slotBufferLimit });
      slots.set(id, slot);
      outputSubscriptions.set(id, slot.output.subscribe((env) => dispatch(id, env)));
    }
    return slot;
  };

  return {
    taps,
    wire(pipeline) {
      stageIds = new Set(Object.keys(pipeline.stages));
      consumers = consumersOf(pipeline.stages);
    },
    async build(id, valid) {
      const spec = valid.pipeline.stages[id];
      const plugin = valid.plugins.get(id)!;
      const definition = plugin.definition;
      const stageLogger = logger.child({ stage: id });
      const ctx: StageContext = {
        stageId: id,
        logger: stageLogger,
        metrics: ledger.metricsOf(id),
        services: o.services.containerFor(definition.services ?? []),
        baseDir: valid.baseDir,
        envelope(kind, body, meta = {}, onSettle) {
          const env = onSettle ? createEnvelope(kind, body, meta, onSettle, ledger.onSettled) : createEnvelope(kind, body, meta, ledger.onSettled);
          ledger.track(env, id);
          return env;
        },
      };
      const generation = (generations.get(id) ?? 0) + 1;
      const stage = await definition.create(ctx, structuredClone(spec.config));
      generations.set(id, generation);
      ledger.metricsOf(id).count('builds');
      stageLogger.info({ type: definition.type, generation }, 'stage started');
      return { stage, spec, definition, pluginHash: plugin.hash, generation, input: new Subject<Envelope>() };
    },
    attach(id, instance) {
      return slotFor(id).attach(instance, (err) => {
        ledger.metricsOf(id).count('errors');
        logger.error({ stage: id, err: String(err) }, 'stage failed; its input is dropped until it is replaced');
      });
    },
    async retire(id, instance) {
      if (!instance) return;
      try {
        await retire(instance, Date.now() + o.retireTimeoutMs);
      } catch (err) {
        logger.warn({ stage: id, err: String(err) }, 'stage did not close cleanly');
      }
    },
    slot: (id) => slots.get(id),
    removeSlot(id) {
      outputSubscriptions.get(id)?.unsubscribe();
      outputSubscriptions.delete(id);
      slots.delete(id);
    },
    slotIds: () => [...slots.keys()],
  };
}
