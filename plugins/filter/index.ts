// Lets through only envelopes that match; the rest are dropped with the configured reason.
import { filter } from 'rxjs';
import { defineStage, type Envelope } from '../../core/sdk/index.js';

interface Config {
  kinds?: string[];
  maxBytes?: number;
  reason: string;
}

export default defineStage<Config>({
  type: 'filter',
  kind: 'transform',
  description: 'Passes envelopes of the listed kinds whose byte body is at most maxBytes; drops the rest with `reason`',
  configSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      kinds: { type: 'array', items: { type: 'string' }, minItems: 1 },
      maxBytes: { type: 'integer', minimum: 0 },
      reason: { type: 'string', pattern: '^[a-z][a-z0-9-]*$', default: 'filtered' },
    },
  },
  create(ctx, config) {
    const passes = (env: Envelope) => {
      if (config.kinds && !config.kinds.includes(env.kind)) return false;
      if (config.maxBytes !== undefined && env.body instanceof Uint8Array && env.body.length > config.maxBytes) return false;
      return true;
    };
    return {
      connect: (input$) =>
        input$.pipe(
          filter((env) => {
            if (passes(env)) return true;
            env.settle({ status: 'dropped', reason: config.reason });
            return false;
          }),
        ),
      close: async () => {},
    };
  },
});
