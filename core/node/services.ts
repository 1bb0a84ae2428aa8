// The services a node's host provides to its stages. Stages name the ones they use in their
// definition's `services`; a pipeline file configures them under `services` (and `mesh`).
import { defineService, type ServiceDefinition } from '../runtime/define-stage.js';

export interface Clock {
  now(): number;
}

export const clockService = defineService<Record<string, never>, Clock>({
  name: 'clock',
  configSchema: { type: 'object', additionalProperties: false },
  create: () => ({ now: () => Date.now() }),
});

export function nodeServices(): ServiceDefinition[] {
  return [clockService];
}
