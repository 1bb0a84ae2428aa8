// Sync sideways: each envelope becomes a named record sent to the peers this node is paired
// with, on the peer sync port of their mesh addresses. Lateral only: never to the authority, never
// on the command or telemetry port (docs/diode.md); the receiving side is sync-receive.
import { tap } from 'rxjs';
import {
  COMMAND_PORT, defineStage, encodeSyncRecord, logSampler, MESH, NAME_PATTERN, NODE, PEER_SYNC_PORT, TELEMETRY_PORT,
  type Envelope, type MeshSocket, type SyncPublishDropReason,
} from '../../core/sdk/index.js';

interface Config {
  /** The peers (membership names) that receive the records. */
  peers: string[];
  /** The record's name; an envelope's meta.record overrides it. */
  name: string;
  port: number;
  logPerMinute: number;
}

export default defineStage<Config>({
  type: 'sync-publish',
  kind: 'sink',
  description: 'Sync sideways: sends each body as a named record (JSON) to the paired peers on the peer sync port; never to the authority',
  services: [MESH, NODE],
  configSchema: {
    type: 'object',
    required: ['peers', 'name'],
    additionalProperties: false,
    properties: {
      peers: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', pattern: NAME_PATTERN } },
      name: { type: 'string', pattern: NAME_PATTERN },
      port: { type: 'integer', minimum: 1, maximum: 65535, not: { enum: [COMMAND_PORT, TELEMETRY_PORT] }, default: PEER_SYNC_PORT },
      logPerMinute: { type: 'integer', minimum: 0, default: 20 },
    },
  },
  async create(ctx, config) {
    const mesh = ctx.services.get(MESH);
    const node = ctx.services.get(NODE);
    const socket: MeshSocket = await mesh.bind(0, () => ctx.metrics.count('unexpected-reply'));
    const sampler = logSampler(config.logPerMinute);
    // Start at the clock so a restarted publisher's records are still newer than its last ones.
    let seq = Date.now();

    /** Paired peers by address, as the membership lists them now (it changes live); never the authority. */
    const targets = () => {
      const { peers, authority } = node.membership;
      return config.peers.map((name) => ({ name, peer: peers.find((p) => p.name === name && p.address !== authority.address) }));
    };

    const drop = (env: Envelope, reason: SyncPublishDropReason, fields: Record<string, unknown>) => {
      env.settle({ status: 'dropped', reason, detail: fields });
      if (sampler.allow(reason)) ctx.logger.warn({ reason, ...fields }, 'record not published');
    };

    const publish = (env: Envelope) => {
      const name = typeof env.meta.record === 'string' ? env.meta.record : config.name;
      const body = env.body instanceof Uint8Array ? Buffer.from(env.body).toString('utf8') : env.body;
      const bytes = encodeSyncRecord(name, ++seq, body);
      if (typeof bytes === 'string') return drop(env, `record-${bytes}`, { name });
      const sent: string[] = [];
      const missed: string[] = [];
      for (const { name: peerName, peer } of targets()) {
        const routed = peer !== undefined && socket.send(peer.address, config.port, bytes);
        (routed ? sent : missed).push(peerName);
      }
      if (sent.length) ctx.metrics.count('records-sent', sent.length);
      if (missed.length) ctx.metrics.count('records-unrouted', missed.length);
      if (!sent.length) return drop(env, 'no-peer-reached', { name, missed });
      env.settle({ status: 'delivered', detail: { name, seq, sent, missed } });
    };

    ctx.logger.info({ peers: config.peers, port: config.port }, 'sync sideways: publishing records to paired peers');
    return {
      connect: (input$) => input$.pipe(tap(publish)),
      close: async () => socket.close(),
      status: () => ({ peers: config.peers, port: config.port, seq }),
    };
  },
});
