// Writes a line per envelope to the node's log.
import { tap } from 'rxjs';
import { defineStage } from '../../core/sdk/index.js';

interface Config {
  level: 'info' | 'debug' | 'warn';
  message: string;
}

export default defineStage<Config>({
  type: 'log-sink',
  kind: 'sink',
  description: 'Logs each envelope (id, kind, meta, body size or value) at the given level',
  configSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      level: { enum: ['info', 'debug', 'warn'], default: 'info' },
      message: { type: 'string', default: 'envelope' },
    },
  },
  create(ctx, config) {
    return {
      connect: (input$) =>
        input$.pipe(
          tap((env) => {
            const body = env.body instanceof Uint8Array ? { bytes: env.body.length } : { body: env.body };
            ctx.logger[config.level]({ id: env.id, kind: env.kind, meta: env.meta, ...body }, config.message);
          }),
        ),
      close: async () => {},
    };
  },
});
