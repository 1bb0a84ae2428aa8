// Emits numbered envelopes at a steady rate: load for tests, benchmarks and demos.
import { Observable } from 'rxjs';
import { defineStage, type Envelope } from '../../core/sdk/index.js';

interface Config {
  perSecond: number;
  count: number;
  kind: string;
}

const TICK_MS = 10;

export default defineStage<Config>({
  type: 'generate',
  kind: 'source',
  description: 'Emits {seq} bodies at perSecond (in 10 ms batches), count in all (0: without end)',
  configSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      perSecond: { type: 'integer', minimum: 1, maximum: 10_000_000, default: 100 },
      count: { type: 'integer', minimum: 0, default: 0 },
      kind: { type: 'string', default: 'generated' },
    },
  },
  create(ctx, config) {
    let seq = 0;
    let timer: NodeJS.Timeout | undefined;
    return {
      connect: () =>
        new Observable<Envelope>((subscriber) => {
          const started = Date.now();
          timer = setInterval(() => {
            const due = Math.floor(((Date.now() - started) * config.perSecond) / 1000);
            const target = config.count ? Math.min(due, config.count) : due;
            while (seq < target) subscriber.next(ctx.envelope(config.kind, { seq: ++seq }));
            if (config.count && seq >= config.count) clearInterval(timer);
          }, TICK_MS);
          return () => clearInterval(timer);
        }),
      close: async () => clearInterval(timer),
      status: () => ({ emitted: seq }),
    };
  },
});
