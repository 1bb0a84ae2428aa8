// Executes verified commands: a configured argv command for the intent if there is one, else a
// built-in handler; anything else is refused. Emits one ack per command for telemetry-egress.
import { mergeMap } from 'rxjs';
import { resolve } from 'node:path';
import { defaultCatalogPath, defineStage, HOST, loadCatalog, NODE, type CommandAck, type Envelope, type VerifiedCommand } from '../../core/sdk/index.js';
import { ALLOWED_IN_QUARANTINE, builtinHandlers, loadFlags, saveFlags, type HandlerResult } from './handlers.js';
import { runCommand } from './run-command.js';

interface Config {
  catalog?: string;
  /** argv per intent ("reboot") or per intent and argument name ("restart-service:sync"). */
  commands: Record<string, string[]>;
  timeoutMs: number;
  /** restart-service argument name → the id of the stage to restart. */
  restartable: Record<string, string>;
}

export default defineStage<Config>({
  type: 'executor',
  kind: 'transform',
  description: 'Runs allow-listed handlers for verified commands (built-ins, or configured argv commands with a timeout, no shell) and emits acks',
  services: [HOST, NODE],
  configSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      catalog: { type: 'string' },
      commands: {
        type: 'object',
        propertyNames: { pattern: '^[a-z][a-z0-9-]*(:[a-z0-9-]+)?$' },
        additionalProperties: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1 },
        default: {},
      },
      timeoutMs: { type: 'integer', minimum: 100, maximum: 600_000, default: 30_000 },
      restartable: { type: 'object', additionalProperties: { type: 'string' }, default: {} },
    },
  },
  create(ctx, config) {
    const host = ctx.services.get(HOST);
    const node = ctx.services.get(NODE);
    const catalog = loadCatalog(config.catalog ? resolve(ctx.baseDir, config.catalog) : defaultCatalogPath());
    const intents = new Map(catalog.intents.map((i) => [i.opcode, i]));
    const flags = loadFlags(node);
    const startedAt = Date.now();

    const execute = async (command: VerifiedCommand): Promise<HandlerResult | { status: 'unknown-intent'; detail: string }> => {
      const intent = intents.get(command.opcode);
      if (!intent) return { status: 'unknown-intent', detail: `opcode 0x${command.opcode.toString(16)} is not in this node's catalog` };
      const argName = intent.argument?.values.find((v) => v.value === command.arg)?.name ?? null;
      if (intent.argument && argName === null) return { status: 'failed', detail: `${intent.name}: unknown argument ${command.arg}` };
      if (flags.quarantined && !ALLOWED_IN_QUARANTINE.has(intent.name)) return { status: 'rejected-by-policy', detail: `quarantined: ${intent.name} refused` };
      const argv = (argName && config.commands[`${intent.name}:${argName}`]) || config.commands[intent.name];
      if (argv) return runCommand(argv, config.timeoutMs);
      const handler = builtinHandlers[intent.name];
      if (!handler) return { status: 'failed', detail: `no handler configured for ${intent.name} on this node` };
      return handler({
        host,
        flags,
        saveFlags: () => saveFlags(node, flags),
        argName,
        restartable: config.restartable,
        ownStageId: ctx.stageId,
        instanceDir: node.instanceDir,
        startedAt,
        epoch: command.epoch,
        membership: node.membershipStore,
      });
    };

    return {
      connect: (input$) =>
        input$.pipe(
          mergeMap(async (env) => {
            const command = env.body as VerifiedCommand;
            const result = await execute(command).catch((err) => ({ status: 'failed' as const, detail: `handler error: ${(err as Error).message}` }));
            ctx.metrics.count(`ack.${result.status}`);
            ctx.logger.info({ counter: String(command.counter), opcode: command.opcode, arg: command.arg, ...result }, 'command handled');
            const ack: CommandAck = { epoch: command.epoch, counter: command.counter, status: result.status, detail: result.detail };
            return env.with<CommandAck>({ kind: 'ack', body: ack }) as Envelope;
          }),
        ),
      close: async () => {},
      status: () => ({ ...flags }),
    };
  },
});
