// The authority's genesis stage: the join endpoint (admission into the pairing registry), the
// beacon that lets nodes find it without DNS or DHCP, and the membership updates that keep every
// node's peers (and the authority's own) current as nodes join and leave — core/genesis's
// machinery, reached through the genesis service. Emits one envelope per admission event
// (pending, granted, refused) for a log sink or anything else downstream.
import { BEACON_PORT, createPushSource, defineStage, GENESIS, type GenesisAuthorityOptions } from '../../core/sdk/index.js';

export default defineStage<GenesisAuthorityOptions>({
  type: 'genesis',
  kind: 'source',
  description: "The authority's genesis: join endpoint and admission, underlay beacon, membership updates to every node",
  services: [GENESIS],
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
    const source = createPushSource();
    const authority = await ctx.services.get(GENESIS).startAuthority(config, {
      logger: ctx.logger,
      count: (what) => ctx.metrics.count(what),
      onEvent: (event) => source.push(ctx.envelope('genesis', event)),
    });
    return {
      connect: () => source.stream,
      close: () => authority.close(),
      status: () => authority.status(),
    };
  },
});
