// Storage errors a stage answers rather than throws: a full disk (or a database at its size
// limit) refuses writes until space returns, and the node stays up meanwhile.

/** Whether `err` is SQLite saying the disk or the database is full. */
export function isStorageFull(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'SQLITE_FULL' || code === 'ENOSPC';
}
