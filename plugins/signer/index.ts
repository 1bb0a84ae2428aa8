// Turns an accepted draft into one 16-byte packet per target node, all under one counter, each
// under its node's key epoch as the registry records it (the authority's own epoch for a node
// with none), and records the command (and its audit row) before anything is sent. Before
// anything else, the scope guard: a draft that does what its own text refuses, or reaches a node
// the text leaves out, is refused (counted, audited) whichever router made it; so is one outside
// the operator's grant (operators.json). Whether the operator must confirm is the catalog's word
// (the intent's `confirm`), never the router's alone: a router that leaves the flag out changes
// nothing.
import { resolve } from 'node:path';
import { concatMap, EMPTY, of } from 'rxjs';
import {
  authorityCommandKeys,
  COMMAND_PORT, createDraftGuard, createSigner, defaultCatalogPath, defineStage, draftTargets, isStorageFull, loadCatalog, loadOperatorPolicy, logSampler, MAIN_OPERATOR, NODE, parseKey, permits, REGISTRY, targetMatches,
  type DraftGuard, type Draft, type Envelope, type Fleet, type FleetNode, type OutboundCommand, type Registry, type RoutedIntent, type SignerDropReason,
} from '../../core/sdk/index.js';

interface Config {
  /** The intent catalog the guard reads texts with (the router's); default catalog/default.json. */
  catalog?: string;
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
      catalog: { type: 'string', description: 'intent catalog file for the scope guard, relative to the pipeline file; default catalog/default.json' },
    },
  },
  create(ctx, config) {
    const node = ctx.services.get(NODE);
    const registry = ctx.services.get(REGISTRY);
    if (!node.commandSecret) throw new Error("the signer needs the authority's command key: set services.node.authority = true");
    const counters = registry.authorityCounter({ blockSize: config.counterBlock });
    // Every target names its epoch (resolveTargets), read from the registry for each draft.
    const signer = createSigner({ authoritySecret: node.commandSecret, epoch: node.membership.epoch, counters });
    // Which command secret each (node, epoch) is on, across an authority command-key hand-over.
    const commandKeys = authorityCommandKeys(node.instanceDir, registry, node.commandSecret, () => node.membership.epoch);

    const catalog = loadCatalog(config.catalog ? resolve(ctx.baseDir, config.catalog) : defaultCatalogPath());
    // Building a guard tokenises the fleet's names: one is kept per distinct fleet.
    let guard: { fleetJson: string; guard: DraftGuard } | undefined;
    const guardFor = (fleet: Fleet) => {
      const fleetJson = JSON.stringify(fleet);
      if (guard?.fleetJson !== fleetJson) guard = { fleetJson, guard: createDraftGuard(catalog, fleet) };
      return guard.guard;
    };

    /** Intents the operator confirms before they are signed: the catalog's, and any it does not know. */
    const confirmed = new Map(catalog.intents.map((i) => [i.name, i.confirm]));
    const mustConfirm = (draft: Draft) => draft.confirm || (confirmed.get(draft.intent) ?? true);
    // Read for each draft from another operator, so editing operators.json takes effect at once;
    // a file that cannot be read grants nothing (F8's own token is not affected).
    const grantFor = (actor: string, draft: Draft) => {
      if (actor === MAIN_OPERATOR) return permits({ operators: {} }, actor, draft);
      try {
        return permits(loadOperatorPolicy(node.instanceDir), actor, draft);
      } catch (err) {
        return { ok: false as const, reason: 'unknown-operator' as const, explanation: `the operator policy cannot be read: ${(err as Error).message}` };
      }
    };

    const sampler = logSampler(20);
    const drop = (env: Envelope, reason: SignerDropReason, detail: Record<string, unknown>) => {
      env.settle({ status: 'dropped', reason, detail });
      return EMPTY;
    };

    const sign = (env: Envelope<RoutedIntent>) => {
      const { draft, text, actor, dryRun, confirm } = env.body;
      const fleet = registry.fleet();
      const verdict = guardFor(fleet).check(text, draft);
      if (!verdict.ok) {
        ctx.metrics.count(`refused.scope.${verdict.reason}`);
        registry.audit(actor, 'command.refused', { text, intent: draft.intent, target: draft.target, reason: verdict.reason, explanation: verdict.explanation });
        if (sampler.allow('scope-refused')) ctx.logger.warn({ intent: draft.intent, target: draft.target, reason: verdict.reason }, 'draft refused: its text refuses it');
        return drop(env, 'scope-refused', { draft, reason: verdict.reason, explanation: verdict.explanation });
      }
      const granted = grantFor(actor, draft);
      if (!granted.ok) {
        ctx.metrics.count(`refused.policy.${granted.reason}`);
        registry.audit(actor, 'command.refused', { text, intent: draft.intent, target: draft.target, reason: granted.reason, explanation: granted.explanation });
        if (sampler.allow('not-permitted')) ctx.logger.warn({ actor, intent: draft.intent, target: draft.target, reason: granted.reason }, 'draft refused: not granted to this operator');
        return drop(env, 'not-permitted', { draft, reason: granted.reason, explanation: granted.explanation });
      }
      const targets = resolveTargets(draft, fleet.nodes, registry, node.membership.epoch).map((t) => ({ ...t, authoritySecret: commandKeys.secretFor(t.nodeId, t.epoch) ?? commandKeys.signing() }));
      const targetView = targets.map(({ nodeId, name, address }) => ({ nodeId, name, address }));
      if (!targets.length) return drop(env, 'no-targets', { draft, error: `no active node takes commands as '${draft.target}'` });
      if (dryRun) {
        env.settle({ status: 'delivered', detail: { dryRun: true, draft: { ...draft, confirm: mustConfirm(draft) }, targets: targetView } });
        return EMPTY;
      }
      if (mustConfirm(draft) && !confirm) return drop(env, 'needs-confirm', { draft: { ...draft, confirm: true }, targets: targetView });
      const signed = signer.sign(draft, targets);
      // Named after the first target's epoch; each target's packet carries its own.
      const epoch = signed.packets[0].epoch;
      const id = registry.nextCommandId(epoch);
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
        epoch,
        counter: signed.counter.toString(),
        deadline: Date.now() + config.ackTimeoutMs,
        targets: packets.map((p) => ({ nodeId: p.nodeId, name: p.name, address: p.address, packet: p.bytes.toString('hex') })),
      });
      ctx.metrics.count('signed');
      const command: OutboundCommand = { id, epoch, counter: signed.counter.toString(), text, actor, draft, packets };
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
      status: () => ({ epoch: node.membership.epoch }),
    };
  },
});

/**
 * The active nodes that take commands and that one of the draft's targets reaches, each with its
 * public key, its key epoch (`defaultEpoch` when the registry records none) and the selector of
 * the first target that reaches it (its packet carries that one).
 */
function resolveTargets(draft: Draft, nodes: FleetNode[], registry: Registry, defaultEpoch: number) {
  const members = draftTargets(draft);
  return nodes.flatMap((n) => {
    const by = n.takesCommands ? members.find((t) => targetMatches(t.selector, n.id, new Set(n.groups))) : undefined;
    if (!by) return [];
    const record = registry.node(n.id)!;
    return [{ nodeId: n.id, name: n.name, address: n.address, selector: by.selector, publicKey: parseKey(record.publicKey), epoch: record.keyEpoch ?? defaultEpoch }];
  });
}
