// A periodic report of the node's mesh (peers, handshakes, traffic): what a relay that
// interprets nothing still has to say, and a liveness signal for any node.
import { interval, map } from 'rxjs';
import { defineStage, MESH } from '../../core/sdk/index.js';

interface Config {
  everySeconds: number;
}

export default defineStage<Config>({
  type: 'heartbeat',
  kind: 'source',
  description: "Emits the mesh's status every `everySeconds`",
  services: [MESH],
  configSchema: {
    type: 'object',
    additionalProperties: false,
    properties: { everySeconds: { type: 'integer', minimum: 1, maximum: 86_400, default: 30 } },
  },
  create(ctx, config) {
    const mesh = ctx.services.get(MESH);
    return {
      connect: () => interval(config.everySeconds * 1000).pipe(map(() => ctx.envelope('heartbeat', mesh.status()))),
      close: async () => {},
    };
  },
});
