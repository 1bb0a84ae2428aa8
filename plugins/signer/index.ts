// Turns an accepted draft into one 16-byte packet per target node, all under one counter, and
// records the command (and its audit row) before anything is sent.
import { concatMap, EMPTY, of } from 'rxjs';
import {
  COMMAND_PORT, commandId, createSigner, defineStage, isStorageFull, logSampler, NODE, parseKey, REGISTRY, targetMatches,
  type Draft, type Envelope, type FleetNode, type OutboundCommand, type Registry, type RoutedIntent, type SignerDropReason,
} from '../../core/sdk/index.js';

interface Config {
  /** Counters reserved per database write; a crash skips at most this many. */
  counterBlock: number;
  /** How long a target has to acknowledge before it counts as 'no-answer'. */
  ackTimeoutMs: number;
}

export default defineStage<Config>({
  type: 'signer',
  kind: 'transform',
  description: 'Signs drafts into command packets (one per target node, one counter per command) and records them',
  services: [NODE, REGISTRY],
  configSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      counterBlock: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 1024 },
      ackTimeoutMs: { type: 'integer', minimum: 100, default: 5000 },
    },
  },
  create(ctx, config) {
    const node = ctx.services.get(NODE);
    const registry = ctx.services.get(REGISTRY);
    if (!node.commandSecret) throw new Error("the signer needs the authority's command key: set services.node.authority = true");
    const counters = registry.authorityCounter({ blockSize: config.counterBlock });
    const signer = createSigner({ authoritySecret: node.commandSecret, epoch: node.membership.epoch, counters });

    const sampler = logSampler(20);
    const drop = (env: Envelope, reason: SignerDropReason, detail: Record<string, unknown>) => {
      env.settle({ status: 'dropped', reason, detail });
      return EMPTY;
    };

    const sign = (env: Envelope<RoutedIntent>) => {
      const { draft, text, actor, dryRun, confirm } = env.body;
      const fleet = registry.fleet();
      const targets = resolveTargets(draft, fleet.nodes, registry);
      const targetView = targets.map(({ nodeId, name, address }) => ({ nodeId, name, address }));
      if (!targets.length) return drop(env, 'no-targets', { draft, error: `no active node takes commands as '${draft.target}'` });
      if (dryRun) {
        env.settle({ status: 'delivered', detail: { dryRun: true, draft, targets: targetView } });
        return EMPTY;
      }
      if (draft.confirm && !confirm) return drop(env, 'needs-confirm', { draft, targets: targetView });
      const signed = signer.sign(draft, targets);
      const id = commandId(signer.epoch, signed.counter);
      const packets = signed.packets.map((p) => {
        const t = targets.find((x) => x.nodeId === p.nodeId)!;
        return { nodeId: p.nodeId, name: t.name, address: t.address, port: COMMAND_PORT, bytes: p.bytes };
      });
      registry.recordCommand({
        id,
        at: new Date().toISOString(),
        actor,
        text,
        intent: draft.intent,
        opcode: draft.opcode,
        arg: draft.arg,
        target: draft.target,
        selector: draft.selector,
        epoch: signer.epoch,
        counter: signed.counter.toString(),
        deadline: Date.now() + config.ackTimeoutMs,
        targets: packets.map((p) => ({ nodeId: p.nodeId, name: p.name, address: p.address, packet: p.bytes.toString('hex') })),
      });
      ctx.metrics.count('signed');
      const command: OutboundCommand = { id, epoch: signer.epoch, counter: signed.counter.toString(), text, actor, draft, packets };
      return of(env.with({ kind: 'command', body: command }));
    };

    return {
      connect: (input$) =>
        input$.pipe(
          concatMap((env) => {
            try {
              return sign(env as Envelope<RoutedIntent>);
            } catch (err) {
              // A full disk refuses the command (nothing is sent unrecorded); space coming back is enough.
              if (isStorageFull(err)) {
                ctx.metrics.count('refused.storage-full');
                if (sampler.allow('storage-full')) ctx.logger.error({ err: (err as Error).message }, 'command refused: the disk is full');
                return drop(env, 'storage-full', {});
              }
              env.settle({ status: 'failed', error: `signing failed: ${(err as Error).message}` });
              return EMPTY;
            }
          }),
        ),
      close: async () => counters.close(),
      status: () => ({ epoch: signer.epoch }),
    };
  },
});

/** The active nodes a draft's selector reaches that take commands, each with its public key. */
function resolveTargets(draft: Draft, nodes: FleetNode[], registry: Registry) {
  const reached = nodes.filter((n) => n.takesCommands && targetMatches(draft.selector, n.id, new Set(n.groups)));
  return reached.map((n) => ({ nodeId: n.id, name: n.name, address: n.address, publicKey: parseKey(registry.node(n.id)!.publicKey) }));
}
