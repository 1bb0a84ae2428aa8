// The acks a node sent for its most recent commands, so that a command the authority re-sends
// (because the ack was lost) is answered with the same authenticated ack instead of silence,
// and is not executed again. Bounded: only the newest `size` acks are kept.
import { openDurable, type Db } from '../storage/durable-db.js';

export const DEFAULT_ACK_CACHE_SIZE = 1024;

export interface AckCache {
  /** Keeps the ack datagram sent for command (epoch, counter); the oldest beyond the bound is forgotten. */
  remember(epoch: number, counter: bigint, ack: Uint8Array): void;
  /** The ack sent for (epoch, counter), if it is still among the newest. */
  lookup(epoch: number, counter: bigint): Buffer | undefined;
  close(): void;
}

/**
 * In the node's SQLite state (shared by the stage that sends acks and the one that sees the
 * re-sent command), so the cache also answers for commands executed before a restart.
 */
export function openAckCache(target: string | Db, size = DEFAULT_ACK_CACHE_SIZE): AckCache {
  const { db, owned } = openDurable(target);
  db.exec(`CREATE TABLE IF NOT EXISTS protocol_node_acks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    epoch INTEGER NOT NULL, counter TEXT NOT NULL, ack BLOB NOT NULL,
    UNIQUE (epoch, counter)
  )`);
  const insert = db.prepare<[number, string, Buffer]>('INSERT OR REPLACE INTO protocol_node_acks (epoch, counter, ack) VALUES (?, ?, ?)');
  const trim = db.prepare<[number]>('DELETE FROM protocol_node_acks WHERE seq <= ?');
  const select = db.prepare<[number, string], { ack: Buffer }>('SELECT ack FROM protocol_node_acks WHERE epoch = ? AND counter = ?');
  const remember = db.transaction((epoch: number, counter: bigint, ack: Uint8Array) => {
    const { lastInsertRowid } = insert.run(epoch, counter.toString(), Buffer.from(ack));
    trim.run(Number(lastInsertRowid) - size);
  });
  return {
    remember: (epoch, counter, ack) => void remember(epoch, counter, ack),
    lookup: (epoch, counter) => select.get(epoch, counter.toString())?.ack,
    close: () => {
      if (owned) db.close();
    },
  };
}
