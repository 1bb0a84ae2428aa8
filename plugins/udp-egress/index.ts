// Sends each command's packets over the mesh to its targets' command port, from one socket.
import { tap } from 'rxjs';
import { defineStage, isStorageFull, logSampler, MESH, REGISTRY, type Envelope, type MeshSocket, type OutboundCommand } from '../../core/sdk/index.js';

export default defineStage<Record<string, never>>({
  type: 'udp-egress',
  kind: 'sink',
  description: "Sends every packet of a command to its target's mesh address; a target no peer routes is marked failed",
  services: [MESH, REGISTRY],
  configSchema: { type: 'object', additionalProperties: false },
  async create(ctx) {
    const mesh = ctx.services.get(MESH);
    const registry = ctx.services.get(REGISTRY);
    // Nothing is expected back on this socket: acks come on the telemetry port.
    const socket: MeshSocket = await mesh.bind(0, () => ctx.metrics.count('unexpected-reply'));

    const sampler = logSampler(20);
    /** An unrouted target is marked failed; a full disk only keeps it 'sent' (no-answer at the deadline). */
    const markUnrouted = (command: OutboundCommand, nodeId: number) => {
      try {
        registry.markTarget(command.epoch, command.counter, nodeId, 'failed', 'no route to the node on the mesh');
      } catch (err) {
        const why = isStorageFull(err) ? 'storage-full' : 'storage-error';
        ctx.metrics.count(`unrecorded.${why}`);
        if (sampler.allow(why)) ctx.logger.error({ err: (err as Error).message, nodeId }, 'unrouted target not recorded');
      }
    };

    const send = (env: Envelope) => {
      const command = env.body as OutboundCommand;
      const targets = command.packets.map((p) => {
        const routed = socket.send(p.address, p.port, p.bytes);
        if (!routed) markUnrouted(command, p.nodeId);
        ctx.metrics.count(routed ? 'packets-sent' : 'packets-unrouted');
        return { nodeId: p.nodeId, name: p.name, address: p.address, packet: p.bytes.toString('hex'), sent: routed };
      });
      env.settle({ status: 'delivered', detail: { id: command.id, counter: command.counter, epoch: command.epoch, draft: command.draft, targets } });
    };

    return {
      connect: (input$) => input$.pipe(tap(send)),
      close: async () => socket.close(),
    };
  },
});
