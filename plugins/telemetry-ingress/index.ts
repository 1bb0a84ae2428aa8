// The authority's telemetry port: verifies each node's ack and records the target's outcome,
// keeps each node's latest telemetry report (its heartbeat and facts) in the registry, and takes
// a node's key-retired report and identity-change request (a new identity key, docs/keys.md).
// Every message is verified with the node's key for the epoch it names: after an identity
// change, the replaced key for the epoch the node left, while its overlap lasts.
// It carries reports only; nothing received here is ever executed. Refused messages are counted
// by reason and logged at a sampled rate: anyone on the mesh can send junk here.
import {
  authorityCommandKeys, COMMAND_PORT, createAckVerifier, createAuthorityKeyCache, createIdentityChangeVerifier, createKeyRetiredVerifier, createReportVerifier, REPORT_TYPE, createPushSource, formatKey,
  IDENTITY_CHANGE_TYPE, KEY_RETIRED_TYPE, defineStage, isStorageFull, logSampler, MESH, NODE, nodeAddress, parseKey, REGISTRY, TELEMETRY_PORT,
  type AckReport, type Envelope, type MeshEndpoint, type MeshSocket,
} from '../../core/sdk/index.js';

interface Config {
  port: number;
  /** How many refused acks per reason are logged each minute; all are counted. */
  logPerMinute: number;
  /** How far ahead of this node's clock a report's sequence (the sender's clock) may be. */
  maxClockSkewMs: number;
  /** How long a node's replaced identity key still verifies its messages of the epoch it left. */
  identityOverlapMs: number;
}

export default defineStage<Config>({
  type: 'telemetry-ingress',
  kind: 'source',
  description: "Receives acks and telemetry reports on the telemetry port, verifies them against the registry, records each outcome and each node's latest report",
  services: [MESH, NODE, REGISTRY],
  configSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      port: { type: 'integer', minimum: 1, maximum: 65535, not: { const: COMMAND_PORT }, default: TELEMETRY_PORT },
      logPerMinute: { type: 'integer', minimum: 0, default: 20 },
      maxClockSkewMs: { type: 'integer', minimum: 0, maximum: 86_400_000, default: 300_000 },
      identityOverlapMs: { type: 'integer', minimum: 0, default: 120_000, description: "how long a node's replaced identity key still verifies its messages of the epoch it left" },
    },
  },
  ports: (c) => [`mesh:${c.port}`],
  async create(ctx, config) {
    const mesh = ctx.services.get(MESH);
    const node = ctx.services.get(NODE);
    const registry = ctx.services.get(REGISTRY);
    if (!node.commandSecret) throw new Error("telemetry-ingress needs the authority's command key: set services.node.authority = true");
    // The node's key for the epoch a message names: after an identity change, the epoch it left is
    // on its replaced key until that overlap ends (registry.publicKeyFor).
    const nodePublicKey = (id: number, epoch: number) => {
      const key = registry.publicKeyFor(id, epoch);
      return key === undefined ? undefined : parseKey(key);
    };
    // The replay windows live in the registry: an ack taken before an admin restart stays taken.
    // Each (node, epoch) on its command secret: after an authority command-key hand-over the epoch a
    // node left is on the old key until its overlap ends, every other on the new one.
    const commandKeys = authorityCommandKeys(node.instanceDir, registry, node.commandSecret, () => node.membership.epoch);
    const pairs = (id: number, epoch: number) => {
      const nodeKey = nodePublicKey(id, epoch);
      const authoritySecret = nodeKey && commandKeys.secretFor(id, epoch);
      return authoritySecret ? { authoritySecret, nodePublicKey: nodeKey } : undefined;
    };
    // One cache of derived keys for all four: a node's telemetry key is derived once, by whichever
    // of its messages comes first (its heartbeat, usually), not once per kind.
    const cache = createAuthorityKeyCache();
    const verifier = createAckVerifier({ pairs, cache, windows: registry.ackWindows() });
    const reports = createKeyRetiredVerifier({ pairs, cache });
    const heartbeats = createReportVerifier({ pairs, cache });
    const identities = createIdentityChangeVerifier({ pairs, cache });
    const source = createPushSource();
    const sampler = logSampler(config.logPerMinute);
    // A message verified under a node's key must come from that node's mesh address (the plan's:
    // 10.8.0.<id>); the key check has already found the node active.
    const fromItsNode = (nodeId: number, from: MeshEndpoint) => from.address === nodeAddress(nodeId);
    const refuse = (reason: string, fields: Record<string, unknown>) => {
      ctx.metrics.count(`ack-rejected.${reason}`);
      // A duplicate is a node answering a re-send of a command it had already answered (udp-egress
      // re-sends until acked): expected, and harmless, so it is only counted.
      if (reason === 'duplicate') ctx.logger.debug({ ...fields, reason }, 'ack refused');
      else if (sampler.allow(reason)) ctx.logger.warn({ ...fields, reason }, 'ack refused');
    };
    // A node's key-retired report (docs/protocol.md): recorded, and the fleet moves to a new key
    // epoch (the sync pusher sends the membership updates). Repeats for an epoch already left are counted only.
    const refuseReport = (reason: string, fields: Record<string, unknown>) => {
      ctx.metrics.count(`key-retired-rejected.${reason}`);
      if (sampler.allow(`report-${reason}`)) ctx.logger.warn({ ...fields, reason }, 'key-retired report refused');
    };
    const keyRetired = (payload: Buffer, from: MeshEndpoint) => {
      const report = reports.verify(payload);
      if (!report.ok) return refuseReport(report.reason, { from });
      if (!fromItsNode(report.nodeId, from)) return refuseReport('wrong-source', { from, nodeId: report.nodeId });
      try {
        const outcome = registry.keyRetired(report, registry.keyEpoch() ?? node.membership.epoch);
        if (!outcome.moved) return ctx.metrics.count('key-retired-repeated');
        ctx.metrics.count('key-retired');
        ctx.logger.error({ nodeId: report.nodeId, epoch: report.epoch, failedTags: report.failedTags, newEpoch: outcome.epoch }, 'a node retired its command key (forged tags); moving that node to a new key epoch');
      } catch (err) {
        const why = isStorageFull(err) ? 'storage-full' : 'storage-error';
        ctx.metrics.count(`key-retired-unrecorded.${why}`);
        if (sampler.allow(why)) ctx.logger.error({ err: (err as Error).message, nodeId: report.nodeId }, 'key-retired report not recorded');
      }
    };
    // A node's telemetry report (heartbeat): verified, then kept as its latest when it is newer
    // than the last one (a replayed or older report changes nothing).
    const refuseHeartbeat = (reason: string, fields: Record<string, unknown>) => {
      ctx.metrics.count(`report-rejected.${reason}`);
      if (sampler.allow(`heartbeat-${reason}`)) ctx.logger.warn({ ...fields, reason }, 'telemetry report refused');
    };
    const heartbeat = (payload: Buffer, from: MeshEndpoint) => {
      const report = heartbeats.verify(payload);
      if (!report.ok) return refuseHeartbeat(report.reason, { from, ...(report.field && { field: report.field }) });
      if (!fromItsNode(report.nodeId, from)) return refuseHeartbeat('wrong-source', { from, nodeId: report.nodeId });
      try {
        const freshness = registry.recordReport(report, config.maxClockSkewMs);
        if (freshness !== 'fresh') return refuseHeartbeat(freshness, { from, nodeId: report.nodeId, seq: report.seq });
      } catch (err) {
        const why = isStorageFull(err) ? 'storage-full' : 'storage-error';
        ctx.metrics.count(`report-unrecorded.${why}`);
        if (sampler.allow(why)) ctx.logger.error({ err: (err as Error).message, nodeId: report.nodeId }, 'telemetry report not recorded');
        return;
      }
      ctx.metrics.count('reports');
    };
    // A node's identity-change request: its new key recorded (audited) and the node moved to the
    // next epoch, bound to it; the sync pusher then gives every peer and the hub the new key and
    // the node its new epoch, which is its confirmation. A repeat of one taken is counted only.
    const refuseIdentity = (reason: string, fields: Record<string, unknown>) => {
      ctx.metrics.count(`identity-change-rejected.${reason}`);
      if (sampler.allow(`identity-${reason}`)) ctx.logger.warn({ ...fields, reason }, 'identity-change request refused');
    };
    const identityChange = (payload: Buffer, from: MeshEndpoint) => {
      const request = identities.verify(payload);
      if (!request.ok) {
        // A node the registry has but not as active: say which (revoked, pending).
        const known = request.reason === 'unknown-node' ? registry.node(payload[2]) : undefined;
        return refuseIdentity(known ? `node-${known.status}` : request.reason, { from, ...(known && { nodeId: known.id }) });
      }
      const { nodeId, epoch } = request;
      if (!fromItsNode(nodeId, from)) return refuseIdentity('wrong-source', { from, nodeId });
      try {
        const outcome = registry.changeIdentity({ nodeId, epoch, publicKey: formatKey(request.publicKey) }, registry.keyEpoch() ?? node.membership.epoch, config.identityOverlapMs);
        if (!outcome.changed) {
          if (outcome.reason === 'already') return ctx.metrics.count('identity-change-repeated');
          return refuseIdentity(outcome.reason, { from, nodeId, epoch });
        }
        ctx.metrics.count('identity-changed');
        ctx.logger.warn({ nodeId, from: outcome.from, to: outcome.to, epoch: outcome.epoch }, 'a node changed its identity key; moved to a new key epoch bound to it');
      } catch (err) {
        const why = isStorageFull(err) ? 'storage-full' : 'storage-error';
        ctx.metrics.count(`identity-change-unrecorded.${why}`);
        if (sampler.allow(why)) ctx.logger.error({ err: (err as Error).message, nodeId }, 'identity-change request not recorded');
      }
    };
    /** One ack: verified and recorded (inside the batch's transaction); whether its command was known. */
    const takeAck = (payload: Buffer, from: MeshEndpoint): { known: boolean; envelope: Envelope<AckReport> } | undefined => {
      const result = verifier.verify(payload);
      if (!result.ok) return void refuse(result.reason, { from });
      // Not sent from the node it names.
      if (!fromItsNode(result.nodeId, from)) return void refuse('wrong-source', { from, nodeId: result.nodeId });
      let known: boolean;
      try {
        registry.touch(result.nodeId);
        known = registry.markTarget(result.epoch, result.counter.toString(), result.nodeId, result.status, result.detail);
      } catch (err) {
        // Never thrown out of the socket's handler: a full disk would end the admin. The ack is
        // lost (its target reads no-answer at the deadline); the next ones are taken once space returns.
        return void unrecorded(err, result.nodeId);
      }
      const { ok: _ok, ...ack } = result;
      return { known, envelope: ctx.envelope<AckReport>('ack', { ...ack, counter: result.counter.toString() }, { from }) };
    };
    const unrecorded = (err: unknown, nodeId?: number) => {
      const why = isStorageFull(err) ? 'storage-full' : 'storage-error';
      ctx.metrics.count(`ack-unrecorded.${why}`);
      if (sampler.allow(why)) ctx.logger.error({ err: (err as Error).message, nodeId }, 'ack not recorded');
    };
    // The acks that arrive together (a fleet answering one command: the datagrams of one poll of
    // the socket) are taken in one write transaction, so a burst costs one commit (one fsync)
    // instead of three per ack — the window, the node's last heard, the target. They are counted
    // and handed on once it has committed.
    let arrived: { payload: Buffer; from: MeshEndpoint }[] = [];
    const takeArrived = () => {
      const burst = arrived;
      arrived = [];
      let taken: { known: boolean; envelope: Envelope<AckReport> }[];
      try {
        taken = registry.batch(() => burst.flatMap((a) => takeAck(a.payload, a.from) ?? []));
      } catch (err) {
        // The commit itself failed: none of the burst's writes happened.
        for (const _ of burst) unrecorded(err);
        return;
      }
      for (const { known, envelope } of taken) {
        ctx.metrics.count(known ? 'acks' : 'acks-for-unknown-commands');
        if (source.connected) source.push(envelope);
      }
    };
    const socket: MeshSocket = await mesh.bind(config.port, (payload, from) => {
      if (payload[0] === IDENTITY_CHANGE_TYPE) return identityChange(payload, from);
      if (payload[0] === KEY_RETIRED_TYPE) return keyRetired(payload, from);
      if (payload[0] === REPORT_TYPE) return heartbeat(payload, from);
      if (!arrived.length) setImmediate(takeArrived);
      // Copied: the mesh may reuse the buffer once this handler returns.
      arrived.push({ payload: Buffer.from(payload), from });
    });
    return {
      connect: () => source.stream,
      close: async () => {
        socket.close();
        // Acks still waiting for their batch are taken now, while the registry is open.
        if (arrived.length) takeArrived();
      },
      status: () => verifier.stats(),
    };
  },
});
