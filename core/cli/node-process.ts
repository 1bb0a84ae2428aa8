// The process around a running node (`ppn run`): how it stops. A stop ends the process within
// its timeout whatever happens (a stage that will not close, a full or closed stdout, a
// read-only disk); a second signal ends it at once; a node started by a launcher over an IPC
// channel stops when the launcher is gone, even if the launcher was killed (watchLauncher).
import type { Logger } from 'pino';

export const EXIT_STOP_FAILED = 1;

export interface StopStep {
  name: string;
  run(deadline: number): Promise<unknown>;
}

export interface NodeProcessOptions {
  logger: Logger;
  stopTimeoutMs: number;
  /** Done in order at a stop; a step that fails is logged and the next one still runs. */
  steps: StopStep[];
  /** Asked for a reload (SIGHUP). */
  reload(why: string): void;
}

export function superviseNode(o: NodeProcessOptions): void {
  let stopping = false;
  const stop = async (why: string) => {
    if (stopping) process.exit(EXIT_STOP_FAILED);
    stopping = true;
    const deadline = Date.now() + o.stopTimeoutMs;
    // Ref'd on purpose: whatever a step waits for, the process ends by the deadline.
    setTimeout(() => {
      o.logger.error({ why, stopTimeoutMs: o.stopTimeoutMs }, 'stop timed out; exiting anyway');
      process.exit(EXIT_STOP_FAILED);
    }, o.stopTimeoutMs);
    o.logger.info({ why }, 'stopping');
    const problems: string[] = [];
    for (const step of o.steps) {
      try {
        const result = (await step.run(deadline)) as { problem?: string } | undefined;
        if (result?.problem) problems.push(`${step.name}: ${result.problem}`);
      } catch (err) {
        problems.push(`${step.name}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (problems.length) o.logger.error({ problems }, 'stopped with problems');
    process.exit(problems.length ? EXIT_STOP_FAILED : 0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGHUP', () => o.reload('SIGHUP'));
  onLauncherGone = () => void stop('launcher gone');
}

let onLauncherGone: (() => void) | null = null;

/**
 * Call first thing: a node started by a launcher over an IPC channel stops when the launcher is
 * gone (before superviseNode: exits at once, nothing is running yet). An IPC channel rather than
 * a stdin watch: a node run from a script or a service manager often has stdin closed from the
 * start, which would stop it at once; the kernel closes the channel when the launcher dies,
 * however it dies. `process.send` stays defined after the channel closed, so a launcher that
 * died while this process was still loading is seen too.
 */
export function watchLauncher(): void {
  if (typeof process.send !== 'function') return;
  const gone = () => {
    if (onLauncherGone) onLauncherGone();
    else process.exit(EXIT_STOP_FAILED);
  };
  if (!process.connected) return gone();
  process.channel?.unref();
  process.on('disconnect', gone);
}
