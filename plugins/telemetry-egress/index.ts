// Reports upward: each ack is authenticated with the node's telemetry key and sent to the
// authority's telemetry port. Never to the command port: the diode has one direction per port.
// Each ack is also kept in the node's ack cache, so the verifier can send it again when the
// authority re-sends the command (the ack was lost) instead of running the command twice.
import { tap } from 'rxjs';
import {
  COMMAND_PORT, createAckSigner, defineStage, isStorageFull, logSampler, MESH, NODE, openAckCache, TELEMETRY_PORT,
  type CommandAck, type Envelope, type MeshSocket, type TelemetryEgressDropReason,
} from '../../core/sdk/index.js';

const NOT_AN_ACK: TelemetryEgressDropReason = 'not-an-ack';

interface Config {
  port: number;
  /** The node's SQLite state, where the ack cache lives (the verifier's file). */
  stateFile: string;
}

export default defineStage<Config>({
  type: 'telemetry-egress',
  kind: 'sink',
  description: "Sends acks, authenticated with the node's telemetry key, to the authority's telemetry port",
  services: [MESH, NODE],
  configSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      port: { type: 'integer', minimum: 1, maximum: 65535, not: { const: COMMAND_PORT }, default: TELEMETRY_PORT },
      stateFile: { type: 'string', default: 'state.db', description: "SQLite file in the instance directory (the verifier's)" },
    },
  },
  async create(ctx, config) {
    const mesh = ctx.services.get(MESH);
    const node = ctx.services.get(NODE);
    const { authority, nodeId } = node.membership;
    const signer = createAckSigner({ keys: node.keys, nodeId });
    const socket: MeshSocket = await mesh.bind(0, () => ctx.metrics.count('unexpected-inbound'));
    const cache = openAckCache(node.path(config.stateFile));
    const sampler = logSampler(20);
    // An ack that cannot be cached is still sent: only a re-sent command would then go unanswered.
    const remember = (ack: CommandAck, datagram: Buffer) => {
      try {
        cache.remember(ack.epoch, ack.counter, datagram);
      } catch (err) {
        const why = isStorageFull(err) ? 'storage-full' : 'storage-error';
        ctx.metrics.count(`ack-uncached.${why}`);
        if (sampler.allow(why)) ctx.logger.error({ err: (err as Error).message }, 'ack not cached');
      }
    };

    const send = (env: Envelope) => {
      if (env.kind !== 'ack') return env.settle({ status: 'dropped', reason: NOT_AN_ACK });
      const ack = env.body as CommandAck;
      const datagram = signer.encode({ epoch: ack.epoch, counter: ack.counter, status: ack.status, detail: ack.detail });
      remember(ack, datagram);
      if (socket.send(authority.address, config.port, datagram)) env.settle({ status: 'delivered' });
      else env.settle({ status: 'failed', error: `no route to the authority at ${authority.address}` });
    };
    return {
      connect: (input$) => input$.pipe(tap(send)),
      close: async () => {
        socket.close();
        cache.close();
      },
      status: () => ({ to: `${authority.address}:${config.port}` }),
    };
  },
});
