// The SQLite settings every protocol store relies on: WAL with synchronous=FULL makes each
// committed transaction durable (fsync'd) before the call returns, which is what "persist before
// use" means here. Database files hold secrets' neighbours (counters, the fleet, tokens' hashes):
// they are 0600 whatever the directory's mode. SQLite gives the -wal and -shm files the main
// file's mode, so the main file is made 0600 before SQLite creates or opens it.
import { chmodSync, existsSync, statSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';

export type Db = Database.Database;

const FILE_MODE = 0o600;

function closeUp(path: string): void {
  if (!existsSync(path) || !(statSync(path).mode & 0o077)) return;
  try {
    chmodSync(path, FILE_MODE);
  } catch (err) {
    // A read-only disk: nothing can be written there either, so nothing new is exposed.
    if ((err as NodeJS.ErrnoException).code !== 'EROFS') throw err;
  }
}

/** Opens `target` (a path) or adopts an open handle; `owned` says whether closing is ours to do. */
export function openDurable(target: string | Db): { db: Db; owned: boolean } {
  const owned = typeof target === 'string';
  if (typeof target === 'string' && target !== ':memory:' && target !== '') {
    // An empty file is an empty database: creating it ourselves sets the mode SQLite copies.
    try {
      writeFileSync(target, '', { mode: FILE_MODE, flag: 'wx' });
    } catch (err) {
      // There already (or made at this moment by another process, such as the CLI beside the admin).
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' && !(code === 'EROFS' && existsSync(target))) throw err;
    }
    for (const path of [target, `${target}-wal`, `${target}-shm`]) closeUp(path);
  }
  const db = typeof target === 'string' ? new Database(target) : target;
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  return { db, owned };
}

/**
 * `fn` as one write transaction that takes the database's write lock when it begins (BEGIN
 * IMMEDIATE). A deferred transaction (better-sqlite3's default) that reads first and then writes
 * fails at once with "database is locked" when another process wrote in between — the CLI beside
 * a running admin, both on admin.db — since SQLite cannot wait there without losing what was
 * read. Taken up front, the lock is simply waited for (the busy timeout, 5 s).
 */
export function writeTransaction<A extends unknown[], R>(db: Db, fn: (...args: A) => R): (...args: A) => R {
  const transaction = db.transaction(fn);
  return (...args) => transaction.immediate(...args);
}
