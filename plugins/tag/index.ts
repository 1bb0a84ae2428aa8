// Marks envelopes as they pass: sets meta fields and, optionally, a new kind.
import { map } from 'rxjs';
import { defineStage } from '../../core/sdk/index.js';

interface Config {
  meta: Record<string, unknown>;
  kind?: string;
}

export default defineStage<Config>({
  type: 'tag',
  kind: 'transform',
  description: 'Adds the configured meta fields to each envelope and optionally changes its kind',
  configSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      meta: { type: 'object', default: {} },
      kind: { type: 'string', minLength: 1 },
    },
  },
  create(_ctx, config) {
    return {
      connect: (input$) =>
        input$.pipe(map((env) => env.with({ kind: config.kind ?? env.kind, meta: { ...env.meta, ...config.meta } }))),
      close: async () => {},
    };
  },
});
