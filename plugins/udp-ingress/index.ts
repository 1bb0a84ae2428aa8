// Datagrams arriving on a port of the node's mesh address (ppn0), one envelope each.
import { COMMAND_PORT, createPushSource, defineStage, MESH, type MeshSocket } from '../../core/sdk/index.js';

interface Config {
  port: number;
  kind: string;
}

export default defineStage<Config>({
  type: 'udp-ingress',
  kind: 'source',
  description: 'Emits each datagram received on the mesh address at `port` (meta.from: {address, port})',
  services: [MESH],
  configSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      port: { type: 'integer', minimum: 1, maximum: 65535, default: COMMAND_PORT },
      kind: { type: 'string', default: 'datagram' },
    },
  },
  ports: (c) => [`mesh:${c.port}`],
  async create(ctx, config) {
    const mesh = ctx.services.get(MESH);
    const source = createPushSource();
    const socket: MeshSocket = await mesh.bind(config.port, (payload, from) => {
      if (!source.connected) return ctx.metrics.count('dropped-before-connect');
      source.push(ctx.envelope(config.kind, payload, { from }));
    });
    ctx.logger.info({ address: `${mesh.address}:${socket.port}`, mode: mesh.mode }, 'listening on the mesh');
    return {
      connect: () => source.stream,
      close: async () => socket.close(),
      status: () => ({ address: `${mesh.address}:${socket.port}` }),
    };
  },
});
