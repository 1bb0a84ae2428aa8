// How errors end a `ppn` command: one translation for every command. A usage mistake (bad
// argument, unreadable input file, a value refused by its parser) exits 2; any other error exits
// 1; both print `ppn: <message>` on stderr, after the problem lines an error carries.
import { CommanderError } from 'commander';

export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** A mistake in how a command was called: the CLI exits 2. `details` are printed first, one a line. */
export class UsageError extends Error {
  override name = 'UsageError';
  constructor(
    message: string,
    readonly details: readonly string[] = [],
  ) {
    super(message);
  }
}

type ErrorClass = abstract new (...args: never[]) => Error;

/**
 * Runs `fn`; an error of one of `kinds` (e.g. InvalidKeyError; `Error` for any) is the caller's
 * mistake and becomes a UsageError with the same message. Others pass through.
 */
export function asUsageError<T>(fn: () => T, ...kinds: ErrorClass[]): T {
  try {
    return fn();
  } catch (err) {
    if (kinds.some((k) => err instanceof k)) throw new UsageError((err as Error).message);
    throw err;
  }
}

/** The exit code and stderr lines for an error that ended a command. */
export function exitFor(err: unknown): { code: number; lines: string[] } {
  // Commander has printed its own message; help and version are not errors.
  if (err instanceof CommanderError) return { code: err.exitCode === 0 ? 0 : EXIT_USAGE, lines: [] };
  if (err instanceof UsageError) return { code: EXIT_USAGE, lines: [...err.details, `ppn: ${err.message}`] };
  return { code: EXIT_FAILED, lines: [`ppn: ${err instanceof Error ? err.message : String(err)}`] };
}
