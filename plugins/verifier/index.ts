// Checks each command packet as the protocol's receive order says (tag, counter, replay, target),
// persisting the counter before the command goes on. Rejections are dropped, counted by reason.
import { filter, map } from 'rxjs';
import type { NodeIdentity } from '../../core/node/services.js';
import { parseKey } from '../../core/keys/index.js';
import { openNodeState } from '../../core/protocol/node-state.js';
import { createVerifier, DEFAULT_FAILED_TAG_CAP, type AcceptedCommand } from '../../core/protocol/verifier.js';
import { defineStage } from '../../core/runtime/define-stage.js';
import { logSampler } from '../../core/runtime/log-sampler.js';
import type { Envelope } from '../../core/runtime/envelope.js';

/** What the verifier passes on to the executor. */
export type VerifiedCommand = Omit<AcceptedCommand, 'ok'>;

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
  services: ['node'],
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
    const node = ctx.services.resolve<NodeIdentity>('node');
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
            env.settle({ status: 'dropped', reason: `command-${result.reason}` });
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
