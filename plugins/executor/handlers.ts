// The executor's built-in handlers: what a node can do to itself without any configured command.
import { nextEpoch, type HostControl, type MembershipStore, type NodeIdentity } from '../../core/sdk/index.js';
import { collectFacts, factsSummary, MAX_ACK_DETAIL } from '../../core/sdk/index.js';

const FLAGS_FILE = 'flags.json';

export interface NodeFlags {
  maintenance: boolean;
  quarantined: boolean;
}

export interface HandlerResult {
  status: 'executed' | 'failed' | 'rejected-by-policy';
  detail: string;
}

export interface HandlerContext {
  host: HostControl;
  flags: NodeFlags;
  saveFlags(): void;
  argName: string | null;
  /** Stage ids that restart-service may restart, by argument name. */
  restartable: Record<string, string>;
  ownStageId: string;
  /** The node's instance directory: the report's disk fact is its file system's. */
  instanceDir: string;
  startedAt: number;
  /** The key epoch the command was signed under. */
  epoch: number;
  membership: MembershipStore;
}

export type Handler = (ctx: HandlerContext) => Promise<HandlerResult> | HandlerResult;

const LOG_LEVELS: Record<string, string> = { error: 'error', warn: 'warn', info: 'info', debug: 'debug' };

export const builtinHandlers: Record<string, Handler> = {
  ping: () => ({ status: 'executed', detail: 'pong' }),
  // The node's facts now, as its telemetry report carries them, summarised to fit the ack (JSON,
  // docs/telemetry.md); the full facts are in the authority's registry from the last heartbeat.
  'report-telemetry': ({ host, instanceDir }) => {
    const s = host.status();
    const reporter = Object.values(s.stages).find((st) => st.type === 'telemetry-report')?.details?.everySeconds;
    const facts = collectFacts({ everySeconds: typeof reporter === 'number' ? reporter : 1, instanceDir, host: s, mesh: s.serviceStatus.mesh ?? {} });
    return { status: 'executed', detail: factsSummary(facts, MAX_ACK_DETAIL) };
  },
  'reload-pipeline': ({ host }) => {
    // Not awaited: the reload may replace this very stage, which waits for work in hand to end.
    void host.reload();
    return { status: 'executed', detail: 'pipeline reload started; see ppn status for its outcome' };
  },
  'set-log-level': ({ host, argName }) => {
    const level = argName && LOG_LEVELS[argName];
    if (!level) return { status: 'failed', detail: `unknown log level ${argName}` };
    host.setLogLevel(level);
    return { status: 'executed', detail: `log level ${level}` };
  },
  'restart-service': async ({ host, argName, restartable, ownStageId }) => {
    const stageId = argName ? restartable[argName] : undefined;
    if (!stageId) return { status: 'failed', detail: `no stage or command configured for service ${argName}` };
    if (stageId === ownStageId) return { status: 'failed', detail: 'the executor cannot restart itself; use reload-pipeline' };
    const result = await host.restart([stageId]);
    return result.ok
      ? { status: 'executed', detail: `restarted ${argName} (stage ${stageId})` }
      : { status: 'failed', detail: `restart of ${argName} failed: ${result.errors.join('; ')}` };
  },
  // The node moves to the epoch after the command's own, and only from the epoch it is at: the
  // verifier switches before the ack leaves, the authority records the move when the ack
  // arrives and only then signs under the new epoch (docs/protocol.md, "Key lifecycle").
  'rotate-keys': ({ epoch, membership }) => {
    const to = nextEpoch(epoch);
    const at = membership.current.epoch;
    if (at === to) return { status: 'executed', detail: `key epoch ${to} (already)` };
    if (at !== epoch) return { status: 'failed', detail: `signed under key epoch ${epoch}, which this node has left (it is at ${at})` };
    membership.apply({ epoch: to }, 'self');
    return { status: 'executed', detail: `key epoch ${epoch} → ${to}` };
  },
  'enter-maintenance': (ctx) => setFlag(ctx, 'maintenance', true),
  'exit-maintenance': (ctx) => setFlag(ctx, 'maintenance', false),
  quarantine: (ctx) => setFlag(ctx, 'quarantined', true),
  'release-quarantine': (ctx) => setFlag(ctx, 'quarantined', false),
};

/** What a quarantined node still does: be seen, and be released. */
export const ALLOWED_IN_QUARANTINE = new Set(['ping', 'report-telemetry', 'release-quarantine']);

function setFlag(ctx: HandlerContext, flag: keyof NodeFlags, value: boolean): HandlerResult {
  const was = ctx.flags[flag];
  ctx.flags[flag] = value;
  ctx.saveFlags();
  const name = flag === 'maintenance' ? 'maintenance' : 'quarantine';
  return { status: 'executed', detail: `${name} ${value ? 'on' : 'off'}${was === value ? ' (unchanged)' : ''}` };
}

export function loadFlags(node: NodeIdentity): NodeFlags {
  const saved = (node.readJson(FLAGS_FILE) ?? {}) as Partial<NodeFlags>;
  return { maintenance: saved.maintenance === true, quarantined: saved.quarantined === true };
}

export function saveFlags(node: NodeIdentity, flags: NodeFlags): void {
  node.writeJson(FLAGS_FILE, flags);
}
