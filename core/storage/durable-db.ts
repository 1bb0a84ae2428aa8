// The SQLite settings every protocol store relies on: WAL with synchronous=FULL makes each
// committed transaction durable (fsync'd) before the call returns, which is what "persist before
// use" means here.
import Database from 'better-sqlite3';

export type Db = Database.Database;

/** Opens `target` (a path) or adopts an open handle; `owned` says whether closing is ours to do. */
export function openDurable(target: string | Db): { db: Db; owned: boolean } {
  const owned = typeof target === 'string';
  const db = typeof target === 'string' ? new Database(target) : target;
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  return { db, owned };
}
