// Checks each command packet as the protocol's receive order says (tag, counter, replay, target),
// persisting the counter before the command goes on. Rejections are dropped, counted by reason.
// Failed tags are budgeted per source, so forging at line rate cannot retire the key in seconds;
// a key that is retired all the same is reported to the authority (an authenticated report on
// the telemetry port, repeated until a membership update brings a new epoch), and the new epoch
// and groups are taken from the membership store as they change, without a rebuild. The epoch
// left behind stays accepted for `epochOverlapMs` once the authority names the new one (a move
// the node made itself, executing rotate-keys, keeps it until the authority has confirmed).
// A replay of the very 16 bytes of a recent command (the authority re-sends when no ack came) is
// not executed again: the ack telemetry-egress cached for it is sent once more instead. Every
// replay is logged 'command rejected' (reason replay) with what the node knows of it (`replayOf`:
// the same packet, another packet with this counter, or unknown), each on a log budget of its
// own, so a counter the authority used twice always stands out.
import { filter, map } from 'rxjs';
import {
  createKeyRetiredSigner, createVerifier, DEFAULT_FAILED_TAG_CAP, DEFAULT_FAILURE_BURST, DEFAULT_FAILURES_PER_SECOND, defineStage, isStorageFull, logSampler,
  MESH, NODE, openAckCache, openNodeState, openRecentCommands, TELEMETRY_PORT,
  type AcceptedCommand, type Envelope, type MeshEndpoint, type VerifiedCommand, type VerifierDropReason,
} from '../../core/sdk/index.js';

interface Config {
  stateFile: string;
  failedTagCap: number;
  /** Failed tag checks per second one source may cause; beyond, its packets are dropped unchecked. */
  failuresPerSecond: number;
  failureBurst: number;
  /** How often a node whose current key is retired repeats its report to the authority. */
  reportEveryMs: number;
  telemetryPort: number;
  /** How many rejections per reason are logged each minute; all are counted. */
  logPerMinute: number;
  /** How long commands of the previous key epoch are still accepted after the authority names a new one. */
  epochOverlapMs: number;
}

export default defineStage<Config>({
  type: 'verifier',
  kind: 'transform',
  description: 'Verifies command packets (tag, counter, replay window, target) against the pinned authority key',
  services: [NODE, MESH],
  configSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      stateFile: { type: 'string', default: 'state.db', description: 'SQLite file in the instance directory' },
      failedTagCap: { type: 'integer', minimum: 1, default: DEFAULT_FAILED_TAG_CAP },
      failuresPerSecond: { type: 'number', exclusiveMinimum: 0, default: DEFAULT_FAILURES_PER_SECOND },
      failureBurst: { type: 'integer', minimum: 1, default: DEFAULT_FAILURE_BURST },
      reportEveryMs: { type: 'integer', minimum: 100, default: 5000 },
      telemetryPort: { type: 'integer', minimum: 1, maximum: 65535, default: TELEMETRY_PORT },
      logPerMinute: { type: 'integer', minimum: 0, default: 20 },
      epochOverlapMs: { type: 'integer', minimum: 0, default: 60_000, description: 'how long the previous key epoch stays accepted after a move to a new one' },
    },
  },
  async create(ctx, config) {
    const node = ctx.services.get(NODE);
    const mesh = ctx.services.get(MESH);
    const { membership } = node;
    const reports = createKeyRetiredSigner({ keys: node.keys, nodeId: membership.nodeId });
    const socket = await mesh.bind(0, () => ctx.metrics.count('unexpected-inbound'));
    const state = openNodeState(node.path(config.stateFile));
    const acks = openAckCache(node.path(config.stateFile));
    const recent = openRecentCommands(node.path(config.stateFile));
    const sampler = logSampler(config.logPerMinute);
    /** A store that cannot be used costs only the answer to a re-send: the command itself goes on. */
    const storage = <T>(what: string, use: () => T): T | undefined => {
      try {
        return use();
      } catch (err) {
        const why = isStorageFull(err) ? 'storage-full' : 'storage-error';
        ctx.metrics.count(`${what}.${why}`);
        if (sampler.allow(what)) ctx.logger.error({ err: (err as Error).message }, `${what}: the node's state cannot be used`);
        return undefined;
      }
    };
    /**
     * What a replayed packet is, from the node's record of its newest accepted packets:
     * - 'same packet': a re-send (the authority saw no ack): its cached ack goes to the authority
     *   again ('answered'; not while the command still runs, or when the cache lost it);
     * - 'other packet': this counter was taken here for other bytes: the authority used it twice;
     * - 'unknown': no packet with this counter was taken here lately — refused because a restart
     *   counts every counter below the highest taken before it as seen (a re-send of a command
     *   that never arrived before the restart is one).
     * Whatever it is, it is refused as a replay and does not run.
     */
    type ReplayOf = { replayOf: 'same packet'; answered: boolean } | { replayOf: 'other packet' | 'unknown' };
    const classifyReplay = (packet: Uint8Array): ReplayOf => {
      const command = storage('resend-unanswered', () => recent.find(packet));
      if (!command) return { replayOf: storage('resend-unanswered', () => recent.knowsCounterOf(packet)) ? 'other packet' : 'unknown' };
      const ack = storage('resend-unanswered', () => acks.lookup(command.epoch, command.counter));
      if (!ack) {
        ctx.metrics.count('replay-not-yet-acked');
        return { replayOf: 'same packet', answered: false };
      }
      const sent = socket.send(membership.authority.address, config.telemetryPort, ack);
      ctx.metrics.count(sent ? 'acks-resent' : 'acks-resent-unrouted');
      return { replayOf: 'same packet', answered: true };
    };

    const report = (epoch: number) => {
      const sent = socket.send(membership.authority.address, config.telemetryPort, reports.encode(epoch, verifier.failedTags(epoch)));
      ctx.metrics.count(sent ? 'key-retired-reported' : 'key-retired-unrouted');
    };
    // The previous epoch and its deadline (wall-clock ms) survive a restart in the node's state.
    const saved = state.loadPrevious();
    const resumed = saved && saved.epoch !== membership.epoch && (saved.until === null || saved.until > Date.now()) ? saved : undefined;
    const verifier = createVerifier({
      keys: node.keys,
      nodeId: membership.nodeId,
      groups: membership.groups,
      state,
      epoch: membership.epoch,
      previousEpoch: resumed?.epoch,
      failedTagCap: config.failedTagCap,
      failuresPerSecond: config.failuresPerSecond,
      failureBurst: config.failureBurst,
      onKeyRetired: (epoch) => {
        ctx.metrics.count('key-retired');
        ctx.logger.error({ epoch }, 'command key retired after too many failed tags; asking the authority for a new key epoch');
        if (epoch === verifier.epoch) report(epoch);
      },
    });

    // Every change of the membership reaches the verifier before the next packet is checked.
    let previousUntil = resumed?.until ?? null;
    if (previousUntil !== null) verifier.expirePrevious(previousUntil - Date.now());
    let savedPrevious = JSON.stringify(resumed ?? null);
    const savePrevious = () => {
      const previous = verifier.previousEpoch === undefined ? undefined : { epoch: verifier.previousEpoch, until: previousUntil };
      if (JSON.stringify(previous ?? null) === savedPrevious) return;
      try {
        state.savePrevious(previous);
        savedPrevious = JSON.stringify(previous ?? null);
      } catch (err) {
        // Only a restart within the overlap would forget the previous epoch early.
        ctx.metrics.count('previous-epoch-unsaved');
        if (sampler.allow('previous-epoch-unsaved')) ctx.logger.error({ err: (err as Error).message }, "the previous key epoch cannot be saved in the node's state");
      }
    };
    const following = node.membershipStore.changes$.subscribe(({ current, source }) => {
      verifier.setGroups(current.groups);
      if (current.epoch !== verifier.epoch) {
        ctx.logger.info({ from: verifier.epoch, to: current.epoch, source }, 'command key epoch changed');
        verifier.setEpoch(current.epoch);
        previousUntil = null;
      }
      // The authority now signs under the current epoch: what it signed before may still be on its way.
      if (source === 'authority' && verifier.previousEpoch !== undefined) {
        const until = Date.now() + config.epochOverlapMs;
        if (previousUntil === null || until < previousUntil) previousUntil = until;
        verifier.expirePrevious(previousUntil - Date.now());
      }
      savePrevious();
    });
    const reportIfRetired = () => {
      if (verifier.isRetired(verifier.epoch)) report(verifier.epoch);
    };
    // Also after a restart: a node that comes up with its current key retired asks at once.
    reportIfRetired();
    const timer = setInterval(reportIfRetired, config.reportEveryMs);
    timer.unref();

    return {
      connect: (input$) =>
        input$.pipe(
          map((env) => {
            const from = env.meta.from as MeshEndpoint | undefined;
            const packet = env.body as Uint8Array;
            const result = verifier.verify(packet, from?.address);
            if (result.ok) storage('command-unremembered', () => recent.accepted(packet, result.epoch, result.counter));
            const replay = !result.ok && result.reason === 'replay' ? classifyReplay(packet) : undefined;
            return { env, result, replay };
          }),
          filter(({ env, result, replay }) => {
            if (result.ok) return true;
            const reason: VerifierDropReason = `command-${result.reason}`;
            env.settle({ status: 'dropped', reason });
            // Each kind of replay on a budget of its own: a counter used twice is always logged.
            const key = replay ? `${result.reason}: ${replay.replayOf}` : result.reason;
            if (sampler.allow(key)) ctx.logger.warn({ reason: result.reason, ...replay, from: env.meta.from }, 'command rejected');
            return false;
          }),
          map(({ env, result }) => {
            const { ok: _ok, ...command } = result as AcceptedCommand;
            return env.with<VerifiedCommand>({ kind: 'command', body: command }) as Envelope;
          }),
        ),
      close: async () => {
        following.unsubscribe();
        clearInterval(timer);
        socket.close();
        recent.close();
        acks.close();
        state.close();
      },
      status: () => {
        const s = verifier.stats();
        return {
          epoch: verifier.epoch,
          previousEpoch: verifier.previousEpoch ?? null,
          retired: verifier.isRetired(verifier.epoch),
          accepted: s.accepted,
          rejected: Object.fromEntries(Object.entries(s.rejected).filter(([, n]) => n > 0)),
        };
      },
    };
  },
});
