// Emits every datagram that arrives on a UDP port, one envelope each.
import { createSocket } from 'node:dgram';
import { createPushSource, defineStage } from '../../core/sdk/index.js';

interface Config {
  host: string;
  port: number;
  kind: string;
  receiveBufferBytes: number;
}

export default defineStage<Config>({
  type: 'udp-source',
  kind: 'source',
  description: 'Emits each UDP datagram received on host:port (body: the bytes; meta.from: "address:port")',
  configSchema: {
    type: 'object',
    required: ['port'],
    additionalProperties: false,
    properties: {
      host: { type: 'string', default: '127.0.0.1', format: 'ipv4' },
      port: { type: 'integer', minimum: 0, maximum: 65535 },
      kind: { type: 'string', default: 'udp.datagram' },
      receiveBufferBytes: { type: 'integer', minimum: 65536, default: 4 * 1024 * 1024 },
    },
  },
  ports: (c) => (c.port === 0 ? [] : [`udp:${c.host}:${c.port}`]),
  async create(ctx, config) {
    const socket = createSocket({ type: 'udp4', recvBufferSize: config.receiveBufferBytes });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(config.port, config.host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    const source = createPushSource();
    socket.on('message', (msg, rinfo) => {
      if (source.connected) source.push(ctx.envelope(config.kind, msg, { from: `${rinfo.address}:${rinfo.port}` }));
      else ctx.metrics.count('dropped-before-connect');
    });
    const bound = socket.address();
    ctx.logger.info({ address: `${bound.address}:${bound.port}` }, 'listening');
    return {
      connect: () => source.stream,
      close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
      status: () => ({ address: `${bound.address}:${bound.port}` }),
    };
  },
});
