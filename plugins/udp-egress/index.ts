// Sends each command's packets over the mesh to its targets' command port, from one socket.
// A datagram can be lost (a NAT that just forgot its mapping, a lossy link), so the exact same
// packet can be sent again to each target that has not answered, after resendAfterMs and then
// twice as long each time, until the command's deadline (resendAfterMs; 0 turns it off). The
// node does not run a re-sent packet twice (its replay window refuses it) and answers it with
// the ack it sent before (docs/protocol.md).
import { tap } from 'rxjs';
import { defineStage, isStorageFull, logSampler, MESH, REGISTRY, type Envelope, type MeshSocket, type OutboundCommand } from '../../core/sdk/index.js';

interface Config {
  /** Wait before the first re-send to a target that has not acked; doubled after each one. 0: none. */
  resendAfterMs: number;
}

export default defineStage<Config>({
  type: 'udp-egress',
  kind: 'sink',
  description: "Sends every packet of a command to its target's mesh address, again with backoff until it acks or the deadline; a target no peer routes is marked failed",
  services: [MESH, REGISTRY],
  configSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      resendAfterMs: { type: 'integer', minimum: 0, default: 500, description: 'first re-send to a target that has not acked, doubled each time until the deadline; 0: never re-send' },
    },
  },
  async create(ctx, config) {
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

    /** The targets still without an answer; none when the registry cannot be read (a timer must not throw). */
    const waitingTargets = (command: OutboundCommand): Set<number> => {
      try {
        return new Set(registry.command(command.id)?.targets.filter((t) => t.status === 'sent').map((t) => t.nodeId));
      } catch (err) {
        ctx.metrics.count('resends-stopped.storage-error');
        if (sampler.allow('resend-read')) ctx.logger.error({ err: (err as Error).message, id: command.id }, 'resends stopped: the registry cannot be read');
        return new Set();
      }
    };
    const timers = new Set<NodeJS.Timeout>();
    /** Re-sends, while the registry still has targets of the command waiting ('sent') and the deadline allows. */
    const resendUntilAcked = (command: OutboundCommand) => {
      if (!config.resendAfterMs) return;
      const deadline = registry.command(command.id)?.deadline;
      if (deadline === undefined) return;
      const after = (delay: number) => {
        if (Date.now() + delay > deadline) return;
        const timer = setTimeout(() => {
          timers.delete(timer);
          const waiting = waitingTargets(command);
          if (!waiting.size) return;
          for (const p of command.packets) {
            if (!waiting.has(p.nodeId)) continue;
            ctx.metrics.count(socket.send(p.address, p.port, p.bytes) ? 'resends' : 'resends-unrouted');
          }
          after(delay * 2);
        }, delay);
        timer.unref();
        timers.add(timer);
      };
      after(config.resendAfterMs);
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
      resendUntilAcked(command);
    };

    return {
      connect: (input$) => input$.pipe(tap(send)),
      close: async () => {
        for (const timer of timers) clearTimeout(timer);
        socket.close();
      },
    };
  },
});
