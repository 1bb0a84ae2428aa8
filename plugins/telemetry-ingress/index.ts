// The authority's telemetry port: verifies each node's ack and records the target's outcome.
// It carries reports only; nothing received here is ever executed.
import type { Mesh, MeshSocket } from '../../core/mesh/mesh.js';
import { COMMAND_PORT, TELEMETRY_PORT } from '../../core/mesh/ports.js';
import type { NodeIdentity } from '../../core/node/services.js';
import { createAckVerifier, type VerifiedAck } from '../../core/protocol/ack-verifier.js';
import { parseKey } from '../../core/keys/index.js';
import type { Registry } from '../../core/registry/registry.js';
import { defineStage } from '../../core/runtime/define-stage.js';
import { createPushSource } from '../../core/runtime/push-source.js';

interface Config {
  port: number;
}

/** What this stage emits: a verified ack, its counter as a decimal string (as everywhere in JSON). */
export type AckReport = Omit<VerifiedAck, 'counter'> & { counter: string };

export default defineStage<Config>({
  type: 'telemetry-ingress',
  kind: 'source',
  description: 'Receives acks on the telemetry port, verifies them against the registry and records each outcome',
  services: ['mesh', 'node', 'registry'],
  configSchema: {
    type: 'object',
    additionalProperties: false,
    properties: { port: { type: 'integer', minimum: 1, maximum: 65535, not: { const: COMMAND_PORT }, default: TELEMETRY_PORT } },
  },
  ports: (c) => [`mesh:${c.port}`],
  async create(ctx, config) {
    const mesh = ctx.services.resolve<Mesh>('mesh');
    const node = ctx.services.resolve<NodeIdentity>('node');
    const registry = ctx.services.resolve<Registry>('registry');
    if (!node.commandSecret) throw new Error("telemetry-ingress needs the authority's command key: set services.node.authority = true");
    const verifier = createAckVerifier({
      authoritySecret: node.commandSecret,
      nodePublicKey: (id) => {
        const n = registry.node(id);
        return n && n.status === 'active' ? parseKey(n.publicKey) : undefined;
      },
    });
    const source = createPushSource();
    const socket: MeshSocket = await mesh.bind(config.port, (payload, from) => {
      const result = verifier.verify(payload);
      if (!result.ok) {
        ctx.metrics.count(`ack-rejected.${result.reason}`);
        ctx.logger.warn({ from, reason: result.reason }, 'ack refused');
        return;
      }
      const node = registry.node(result.nodeId);
      if (node?.address !== from.address) {
        ctx.metrics.count('ack-rejected.wrong-source');
        ctx.logger.warn({ from, nodeId: result.nodeId }, 'ack refused: not sent from the node it names');
        return;
      }
      registry.touch(result.nodeId);
      const known = registry.markTarget(result.epoch, result.counter.toString(), result.nodeId, result.status, result.detail);
      ctx.metrics.count(known ? 'acks' : 'acks-for-unknown-commands');
      if (source.connected) source.push(ctx.envelope<AckReport>('ack', { ...result, counter: result.counter.toString() }, { from }));
    });
    return {
      connect: () => source.stream,
      close: async () => socket.close(),
      status: () => verifier.stats(),
    };
  },
});
