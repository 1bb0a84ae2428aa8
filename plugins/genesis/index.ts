// The authority's genesis stage: the join endpoint (admission into the pairing registry), the
// beacon that lets nodes find it without DNS or DHCP, and the membership updates that keep every
// node's peers (and the authority's own) current as nodes join and leave. Emits one envelope per
// admission event (pending, granted, refused) for a log sink or anything else downstream.
import type { Mesh } from '../../core/mesh/mesh.js';
import { BEACON_PORT } from '../../core/mesh/ports.js';
import type { NodeIdentity } from '../../core/node/services.js';
import { formatKey, publicKeyOf } from '../../core/keys/index.js';
import type { Registry } from '../../core/registry/registry.js';
import { defineStage } from '../../core/runtime/define-stage.js';
import { createPushSource } from '../../core/runtime/push-source.js';
import { directedBroadcast, startBeaconSender } from '../../core/genesis/beacon-sender.js';
import { formatEndpoint, parseEndpoint } from '../../core/underlay/endpoint.js';
import { startJoinServer, type GenesisEvent } from '../../core/genesis/join-server.js';
import { AUTHORITY_ID_META, JOIN_ENDPOINT_META, openPairing } from '../../core/genesis/pairing.js';
import { loadGenesisKey } from '../../core/genesis/signing-key.js';
import { startSyncPusher } from '../../core/genesis/sync-pusher.js';

interface Config {
  host?: string;
  port?: number;
  advertise?: string;
  admission: 'approve' | 'auto';
  maxPending: number;
  freshnessSeconds: number;
  groupsByRole: Record<string, number[]>;
  beacon: { enabled: boolean; broadcast?: string; port: number; everyMs: number };
  sync: { everyMs: number; pollMs: number };
}

export default defineStage<Config>({
  type: 'genesis',
  kind: 'source',
  description: "The authority's genesis: join endpoint and admission, underlay beacon, membership updates to every node",
  services: ['node', 'registry', 'mesh'],
  configSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      host: { type: 'string', format: 'ipv4', description: "underlay address of the join endpoint; default: the host of the authority's WireGuard listen address" },
      port: {
        type: 'integer',
        minimum: 0,
        maximum: 65535,
        description: "TCP port of the join endpoint; default: the number of the authority's WireGuard port (TCP beside its UDP: stable across restarts, and unique wherever the WireGuard port is)",
      },
      advertise: { type: 'string', pattern: '^\\d{1,3}(\\.\\d{1,3}){3}:\\d{1,5}$', description: 'join endpoint put in beacons and claims; default: host:port' },
      admission: { enum: ['approve', 'auto'], default: 'approve', description: "'approve': new nodes wait for an operator unless claimed or holding an enrolment token; 'auto': everyone authenticated is admitted" },
      maxPending: { type: 'integer', minimum: 1, maximum: 253, default: 32 },
      freshnessSeconds: { type: 'integer', minimum: 5, maximum: 3600, default: 60 },
      groupsByRole: {
        type: 'object',
        additionalProperties: { type: 'array', items: { type: 'integer', minimum: 0, maximum: 255 }, uniqueItems: true },
        default: { 'os-infrastructure': [1] },
      },
      beacon: {
        type: 'object',
        additionalProperties: false,
        default: {},
        properties: {
          enabled: { type: 'boolean', default: true },
          broadcast: { type: 'string', format: 'ipv4', description: "default: the directed broadcast address of the join endpoint's interface" },
          port: { type: 'integer', minimum: 1, maximum: 65535, default: BEACON_PORT },
          everyMs: { type: 'integer', minimum: 100, maximum: 600_000, default: 2000 },
        },
      },
      sync: {
        type: 'object',
        additionalProperties: false,
        default: {},
        properties: {
          everyMs: { type: 'integer', minimum: 1000, default: 15_000, description: 'every node is sent its membership again this often' },
          pollMs: { type: 'integer', minimum: 50, default: 500, description: 'how often to look for registry changes made by other processes (the CLI)' },
        },
      },
    },
  },
  ports: (c) => (c.port === 0 ? [] : [`tcp:${c.host ?? 'listen'}:${c.port ?? 'listen'}`]),
  async create(ctx, config) {
    const node = ctx.services.resolve<NodeIdentity>('node');
    const registry = ctx.services.resolve<Registry>('registry');
    const mesh = ctx.services.resolve<Mesh>('mesh');
    if (!node.commandSecret) throw new Error("genesis needs the authority's command key: set services.node.authority = true");
    const { membership } = node;
    const key = loadGenesisKey(node.instanceDir, true);
    const pairing = openPairing(registry);
    pairing.setMeta(AUTHORITY_ID_META, String(membership.nodeId));
    const authority = { nodeId: membership.nodeId, commandPublicKey: formatKey(publicKeyOf(node.commandSecret)), epoch: membership.epoch };
    const listen = parseEndpoint(membership.listen, 'membership listen');
    const host = config.host ?? listen.host;
    const count = (what: string) => ctx.metrics.count(what);
    const source = createPushSource();

    const sync = await startSyncPusher({
      registry, pairing, mesh, key, authority, self: membership, instanceDir: node.instanceDir,
      everyMs: config.sync.everyMs, pollMs: config.sync.pollMs, count, logger: ctx.logger,
    });
    const closers: (() => Promise<void>)[] = [sync.close];
    try {
      const server = await startJoinServer({
        host, port: config.port ?? listen.port, commandSecret: node.commandSecret, pairing, authority,
        policy: { auto: config.admission === 'auto', maxPending: config.maxPending, groupsByRole: config.groupsByRole },
        freshnessMs: config.freshnessSeconds * 1000,
        now: Date.now,
        beforeGrant: sync.refresh,
        syncSeq: sync.seq,
        logger: ctx.logger,
        onEvent: (event: GenesisEvent) => source.push(ctx.envelope('genesis', event)),
        count,
      });
      closers.unshift(server.close);
      const joinEndpoint = config.advertise ? parseEndpoint(config.advertise, 'advertise') : { host, port: server.port };
      if (joinEndpoint.host === '0.0.0.0') throw new Error("genesis listens on 0.0.0.0: set 'advertise' to the address nodes reach it at");
      pairing.setMeta(JOIN_ENDPOINT_META, formatEndpoint(joinEndpoint));
      ctx.logger.info({ joinEndpoint: formatEndpoint(joinEndpoint), admission: config.admission, genesisKey: key.publicText }, 'join endpoint listening');
      if (config.beacon.enabled) {
        const beacon = await startBeaconSender({
          key, bindHost: host, joinEndpoint, port: config.beacon.port, everyMs: config.beacon.everyMs,
          broadcast: config.beacon.broadcast ?? directedBroadcast(host) ?? '255.255.255.255',
          now: Date.now, count, logger: ctx.logger,
        });
        closers.unshift(beacon.close);
      }
    } catch (err) {
      for (const close of closers) await close();
      throw err;
    }

    return {
      connect: () => source.stream,
      close: async () => {
        for (const close of closers) await close();
      },
      status: () => ({ joinEndpoint: pairing.getMeta(JOIN_ENDPOINT_META), admission: config.admission, sync: sync.status() }),
    };
  },
});
