// A stage's place in the graph. The slot outlives the instances in it: upstream stages push into
// the slot and downstream stages read from it, so replacing the instance disturbs neither.
import { Subject, type Subscription } from 'rxjs';
import type { Stage, StageDefinition } from './define-stage.js';
import type { Envelope } from './envelope.js';
import type { StageSpec } from './pipeline-file.js';

export interface StageInstance {
  stage: Stage;
  spec: StageSpec;
  definition: StageDefinition;
  pluginHash: string;
  generation: number;
  input: Subject<Envelope>;
  subscription?: Subscription;
  /** Resolves when the instance's output stream has completed (or errored). */
  outputDone?: Promise<void>;
}

export type SlotState = 'running' | 'paused' | 'failed' | 'empty';

export interface Slot {
  readonly id: string;
  readonly output: Subject<Envelope>;
  instance: StageInstance | null;
  state(): SlotState;
  push(env: Envelope): void;
  /** Routes input to `next` from now on; returns the instance it replaced. */
  attach(next: StageInstance, onError: (err: unknown) => void): StageInstance | null;
  detach(): StageInstance | null;
  /** Holds arriving envelopes (up to the slot's limit) until resume(), e.g. while a port changes hands. */
  pause(): void;
  resume(): void;
  markFailed(): void;
}

/** What a paused slot holds by default: about a second of a busy stage's input. */
export const DEFAULT_SLOT_BUFFER_LIMIT = 10_000;

/**
 * `onUnavailable` settles what the slot cannot pass on: its stage failed or is missing, or the
 * slot is paused and already holds `bufferLimit` envelopes ('slot-buffer-full').
 */
export function createSlot(
  id: string,
  onUnavailable: (env: Envelope, reason: string) => void,
  options: { bufferLimit?: number } = {},
): Slot {
  const bufferLimit = options.bufferLimit ?? DEFAULT_SLOT_BUFFER_LIMIT;
  const output = new Subject<Envelope>();
  let buffer: Envelope[] | null = null;
  let failed = false;
  const slot: Slot = {
    id,
    output,
    instance: null,
    state() {
      if (buffer) return 'paused';
      if (failed) return 'failed';
      return slot.instance ? 'running' : 'empty';
    },
    push(env) {
      if (buffer) {
        if (buffer.length < bufferLimit) buffer.push(env);
        else onUnavailable(env, 'slot-buffer-full');
      }
      else if (slot.instance && !failed) slot.instance.input.next(env);
      else onUnavailable(env, failed ? 'stage-failed' : 'stage-unavailable');
    },
    attach(next, onError) {
      const previous = slot.instance;
      slot.instance = next;
      failed = false;
      let finish!: () => void;
      next.outputDone = new Promise((r) => (finish = r));
      next.subscription = next.stage.connect(next.input.asObservable()).subscribe({
        next: (env) => output.next(env),
        error: (err) => {
          finish();
          if (slot.instance === next) failed = true;
          onError(err);
        },
        complete: finish,
      });
      return previous;
    },
    detach() {
      const previous = slot.instance;
      slot.instance = null;
      return previous;
    },
    pause() {
      buffer ??= [];
    },
    resume() {
      const held = buffer ?? [];
      buffer = null;
      for (const env of held) slot.push(env);
    },
    markFailed() {
      failed = true;
    },
  };
  return slot;
}

/**
 * Lets an instance that no longer receives input finish what it holds, then closes it. Sources
 * never finish by themselves, so they are closed at once.
 */
export async function retire(instance: StageInstance, deadline: number): Promise<void> {
  instance.input.complete();
  if (instance.definition.kind !== 'source' && instance.outputDone) {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((r) => (timer = setTimeout(r, Math.max(0, deadline - Date.now()))));
    await Promise.race([instance.outputDone, timeout]);
    clearTimeout(timer);
  }
  try {
    await instance.stage.close(deadline);
  } finally {
    instance.subscription?.unsubscribe();
  }
}
