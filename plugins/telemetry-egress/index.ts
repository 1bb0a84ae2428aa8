// Reports upward: each ack is authenticated with the node's telemetry key and sent to the
// authority's telemetry port. Never to the command port: the diode has one direction per port.
import { tap } from 'rxjs';
import {
  COMMAND_PORT, createAckSigner, defineStage, MESH, NODE, parseKey, TELEMETRY_PORT,
  type CommandAck, type Envelope, type MeshSocket, type TelemetryEgressDropReason,
} from '../../core/sdk/index.js';

const NOT_AN_ACK: TelemetryEgressDropReason = 'not-an-ack';

interface Config {
  port: number;
}

export default defineStage<Config>({
  type: 'telemetry-egress',
  kind: 'sink',
  description: "Sends acks, authenticated with the node's telemetry key, to the authority's telemetry port",
  services: [MESH, NODE],
  configSchema: {
    type: 'object',
    additionalProperties: false,
    properties: { port: { type: 'integer', minimum: 1, maximum: 65535, not: { const: COMMAND_PORT }, default: TELEMETRY_PORT } },
  },
  async create(ctx, config) {
    const mesh = ctx.services.get(MESH);
    const node = ctx.services.get(NODE);
    const { authority, nodeId } = node.membership;
    const signer = createAckSigner({ nodeSecret: node.secret, authorityPublic: parseKey(authority.commandPublicKey), nodeId });
    const socket: MeshSocket = await mesh.bind(0, () => ctx.metrics.count('unexpected-inbound'));

    const send = (env: Envelope) => {
      if (env.kind !== 'ack') return env.settle({ status: 'dropped', reason: NOT_AN_ACK });
      const ack = env.body as CommandAck;
      const datagram = signer.encode({ epoch: ack.epoch, counter: ack.counter, status: ack.status, detail: ack.detail });
      if (socket.send(authority.address, config.port, datagram)) env.settle({ status: 'delivered' });
      else env.settle({ status: 'failed', error: `no route to the authority at ${authority.address}` });
    };
    return {
      connect: (input$) => input$.pipe(tap(send)),
      close: async () => socket.close(),
      status: () => ({ to: `${authority.address}:${config.port}` }),
    };
  },
});
