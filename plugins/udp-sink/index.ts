// Sends each envelope's body as one UDP datagram to a fixed address.
import { createSocket } from 'node:dgram';
import { mergeMap } from 'rxjs';
import { defineStage, type Envelope } from '../../core/sdk/index.js';

interface Config {
  host: string;
  port: number;
}

export default defineStage<Config>({
  type: 'udp-sink',
  kind: 'sink',
  description: 'Sends each body (bytes or text) as a UDP datagram to host:port; failed sends settle as failed',
  configSchema: {
    type: 'object',
    required: ['port'],
    additionalProperties: false,
    properties: {
      host: { type: 'string', default: '127.0.0.1', format: 'ipv4' },
      port: { type: 'integer', minimum: 1, maximum: 65535 },
    },
  },
  create(_ctx, config) {
    const socket = createSocket('udp4');
    const send = (env: Envelope) =>
      new Promise<Envelope[]>((resolve) => {
        const body = env.body;
        if (!(body instanceof Uint8Array) && typeof body !== 'string') {
          env.settle({ status: 'dropped', reason: 'not-bytes' });
          return resolve([]);
        }
        socket.send(body, config.port, config.host, (err) => {
          if (err) {
            env.settle({ status: 'failed', error: err.message });
            resolve([]);
          } else resolve([env]);
        });
      });
    return {
      connect: (input$) => input$.pipe(mergeMap((env) => send(env)), mergeMap((sent) => sent)),
      close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
    };
  },
});
