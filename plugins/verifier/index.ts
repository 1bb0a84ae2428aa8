// Checks each command packet as the protocol's receive order says (tag, counter, replay, target),
// persisting the counter before the command goes on. Rejections are dropped, counted by reason.
import { filter, map } from 'rxjs';
import {
  createVerifier, DEFAULT_FAILED_TAG_CAP, defineStage, logSampler, NODE, openNodeState, parseKey,
  type AcceptedCommand, type Envelope, type VerifiedCommand, type VerifierDropReason,
} from '../../core/sdk/index.js';

interface Config {
  stateFile: string;
  failedTagCap: number;
  /** How many rejections per reason are logged each minute; all are counted. */
  logPerMinute: number;
}

export default defineStage<Config>({
  type: 'verifier',
  kind: 'transform',
  description: 'Verifies command packets (tag, counter, replay window, target) against the pinned authority key',
  services: [NODE],
  configSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      stateFile: { type: 'string', default: 'state.db', description: 'SQLite file in the instance directory' },
      failedTagCap: { type: 'integer', minimum: 1, default: DEFAULT_FAILED_TAG_CAP },
      logPerMinute: { type: 'integer', minimum: 0, default: 20 },
    },
  },
  create(ctx, config) {
    const node = ctx.services.get(NODE);
    const { membership } = node;
    const state = openNodeState(node.path(config.stateFile));
    const verifier = createVerifier({
      nodeSecret: node.secret,
      authorityPublic: parseKey(membership.authority.commandPublicKey),
      nodeId: membership.nodeId,
      groups: membership.groups,
      state,
      epoch: membership.epoch,
      failedTagCap: config.failedTagCap,
      onKeyRetired: (epoch) => ctx.logger.error({ epoch }, 'command key retired after too many failed tags; a new key epoch is needed'),
    });
    const sampler = logSampler(config.logPerMinute);
    return {
      connect: (input$) =>
        input$.pipe(
          map((env) => ({ env, result: verifier.verify(env.body as Uint8Array) })),
          filter(({ env, result }) => {
            if (result.ok) return true;
            const reason: VerifierDropReason = `command-${result.reason}`;
            env.settle({ status: 'dropped', reason });
            if (sampler.allow(result.reason)) ctx.logger.warn({ reason: result.reason, from: env.meta.from }, 'command rejected');
            return false;
          }),
          map(({ env, result }) => {
            const { ok: _ok, ...command } = result as AcceptedCommand;
            return env.with<VerifiedCommand>({ kind: 'command', body: command }) as Envelope;
          }),
        ),
      close: async () => state.close(),
      status: () => {
        const s = verifier.stats();
        return { accepted: s.accepted, rejected: Object.fromEntries(Object.entries(s.rejected).filter(([, n]) => n > 0)) };
      },
    };
  },
});
