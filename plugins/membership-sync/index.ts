// A node's side of membership updates: the authority's signed updates on the sync port, applied
// live (new peers added, gone ones removed, without restarting the tunnel) and saved — by the
// membership-updates service (core/genesis/sync), which refuses all but the pinned authority's.
import { EMPTY } from 'rxjs';
import { defineStage, MEMBERSHIP_UPDATES, SYNC_PORT } from '../../core/sdk/index.js';

interface Config {
  port: number;
  logPerMinute: number;
}

export default defineStage<Config>({
  type: 'membership-sync',
  kind: 'source',
  description: "Applies the authority's signed membership updates (peers live, the rest saved) received on the sync port",
  services: [MEMBERSHIP_UPDATES],
  configSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      port: { type: 'integer', minimum: 1, maximum: 65535, default: SYNC_PORT },
      logPerMinute: { type: 'integer', minimum: 0, default: 20 },
    },
  },
  ports: (c) => [`mesh:${c.port}`],
  async create(ctx, config) {
    const updates = await ctx.services.get(MEMBERSHIP_UPDATES).listen(config.port, {
      logger: ctx.logger,
      count: (what) => ctx.metrics.count(what),
      logPerMinute: config.logPerMinute,
    });
    return {
      connect: () => EMPTY,
      close: () => updates.close(),
      status: () => updates.status(),
    };
  },
});
