// The node's heartbeat: every `everySeconds` a telemetry report of its facts (uptime, version,
// load, memory, disk, stage states, drops, WireGuard peers and paths), authenticated with the
// node's telemetry key and sent up to the authority's telemetry port (docs/telemetry.md). The
// authority judges the node's health by these. Only ever to the authority, never to the command
// port; what the stage sent is also emitted (kind 'report'), for a local log.
import { map, timer } from 'rxjs';
import {
  collectFacts, COMMAND_PORT, GENESIS_STATE_FILE, createReportSigner, defineStage, HOST, logSampler, MESH, NODE, TELEMETRY_PORT,
  type MeshSocket,
} from '../../core/sdk/index.js';

interface Config {
  everySeconds: number;
  port: number;
}

export default defineStage<Config>({
  type: 'telemetry-report',
  kind: 'source',
  description: "Sends the node's facts (a heartbeat) every `everySeconds` to the authority's telemetry port, authenticated with its telemetry key",
  services: [MESH, NODE, HOST],
  configSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      everySeconds: { type: 'integer', minimum: 1, maximum: 86_400, default: 15, description: 'the heartbeat interval; the authority calls the node stale after 3 and down after 10 missed' },
      port: { type: 'integer', minimum: 1, maximum: 65535, not: { const: COMMAND_PORT }, default: TELEMETRY_PORT },
    },
  },
  async create(ctx, config) {
    const mesh = ctx.services.get(MESH);
    const node = ctx.services.get(NODE);
    const host = ctx.services.get(HOST);
    const { authority, nodeId } = node.membership;
    const signer = createReportSigner({ keys: node.keys, nodeId });
    // Its own socket for sending; nothing is expected back.
    const socket: MeshSocket = await mesh.bind(0, () => ctx.metrics.count('unexpected-inbound'));
    const sampler = logSampler(6);
    let sent = 0;
    let lastSeq = 0;

    const report = () => {
      // The membership version applied: the authority stops re-pushing it once it reads it here.
      const syncSeq = (node.readJson(GENESIS_STATE_FILE) as { syncSeq?: unknown } | undefined)?.syncSeq;
      const facts = collectFacts({
        everySeconds: config.everySeconds, instanceDir: node.instanceDir, host: host.status(), mesh: mesh.status(),
        ...(typeof syncSeq === 'number' && { syncSeq }),
      });
      // The membership is kept current: a moved key epoch is followed from the next report on.
      const encoded = signer.encode(node.membership.epoch, facts);
      const delivered = socket.send(authority.address, config.port, encoded.datagram);
      if (delivered) {
        sent++;
        lastSeq = encoded.seq;
        ctx.metrics.count('reports');
      } else {
        ctx.metrics.count('reports-unsent');
        if (sampler.allow('unsent')) ctx.logger.warn({ to: `${authority.address}:${config.port}` }, 'telemetry report not sent: no route to the authority');
      }
      return ctx.envelope('report', { seq: encoded.seq, sent: delivered, bytes: encoded.datagram.length, facts: encoded.facts });
    };
    return {
      connect: () => timer(0, config.everySeconds * 1000).pipe(map(report)),
      close: async () => socket.close(),
      status: () => ({ to: `${authority.address}:${config.port}`, everySeconds: config.everySeconds, sent, lastSeq }),
    };
  },
});
