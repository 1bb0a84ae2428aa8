// Sync sideways: records from the peers this node is paired with, on the peer sync port, one
// envelope (kind 'record') each. The mesh vouches for the sender's address (WireGuard); a datagram
// from anyone not paired — the authority and the hub included — or not a record, or not newer
// than the last of its name from that peer, is dropped and counted (docs/diode.md).
import {
  COMMAND_PORT, createPushSource, decodeSyncRecord, defineStage, logSampler, MESH, NAME_PATTERN, NODE, PEER_SYNC_PORT, TELEMETRY_PORT,
  type MeshEndpoint, type MeshSocket, type SyncRecord,
} from '../../core/sdk/index.js';

interface Config {
  /** The peers (membership names) whose records are taken. */
  peers: string[];
  /** Record names taken; absent: any. */
  names?: string[];
  port: number;
  logPerMinute: number;
}

export default defineStage<Config>({
  type: 'sync-receive',
  kind: 'source',
  description: 'Sync sideways: emits each record a paired peer publishes on the peer sync port; drops (counts) anything else',
  services: [MESH, NODE],
  configSchema: {
    type: 'object',
    required: ['peers'],
    additionalProperties: false,
    properties: {
      peers: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', pattern: NAME_PATTERN } },
      names: { type: 'array', uniqueItems: true, items: { type: 'string', pattern: NAME_PATTERN } },
      port: { type: 'integer', minimum: 1, maximum: 65535, not: { enum: [COMMAND_PORT, TELEMETRY_PORT] }, default: PEER_SYNC_PORT },
      logPerMinute: { type: 'integer', minimum: 0, default: 20 },
    },
  },
  ports: (c) => [`mesh:${c.port}`],
  async create(ctx, config) {
    const mesh = ctx.services.get(MESH);
    const node = ctx.services.get(NODE);
    const source = createPushSource();
    const sampler = logSampler(config.logPerMinute);
    const names = config.names && new Set(config.names);
    /** The newest seq taken per peer and record name (replays and reordering are dropped). */
    const newest = new Map<string, number>();

    const refuse = (reason: string, fields: Record<string, unknown>) => {
      ctx.metrics.count(`dropped.${reason}`);
      if (sampler.allow(reason)) ctx.logger.warn({ reason, ...fields }, 'sync record dropped');
    };
    /** The paired peer at this mesh address, as the membership lists them now; never the authority. */
    const pairedAt = (from: MeshEndpoint) => {
      const { peers, authority } = node.membership;
      if (from.address === authority.address) return undefined;
      return peers.find((p) => p.address === from.address && config.peers.includes(p.name));
    };

    const socket: MeshSocket = await mesh.bind(config.port, (payload, from) => {
      const peer = pairedAt(from);
      if (!peer) return refuse('not-paired', { from });
      const record = decodeSyncRecord(payload);
      if (typeof record === 'string') return refuse(`record-${record}`, { peer: peer.name, length: payload.length });
      if (names && !names.has(record.name)) return refuse('name-not-taken', { peer: peer.name, name: record.name });
      const key = `${peer.name}/${record.name}`;
      if (record.seq <= (newest.get(key) ?? -1)) return refuse('stale', { peer: peer.name, name: record.name, seq: record.seq });
      if (!source.connected) return ctx.metrics.count('dropped-before-connect');
      newest.set(key, record.seq);
      ctx.metrics.count('records-received');
      source.push(ctx.envelope<SyncRecord>('record', { peer: peer.name, ...record }, { from }));
    });
    ctx.logger.info({ address: `${mesh.address}:${socket.port}`, peers: config.peers }, 'sync sideways: taking records from paired peers');
    return {
      connect: () => source.stream,
      close: async () => socket.close(),
      status: () => ({ address: `${mesh.address}:${socket.port}`, peers: config.peers, records: Object.fromEntries(newest) }),
    };
  },
});
