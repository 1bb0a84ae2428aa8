/** A mistake in how a command was called (bad argument, missing file): the CLI exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}
