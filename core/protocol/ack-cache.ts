// The acks a node sent for its most recent commands, so that a command the authority re-sends
// (because the ack was lost) is answered with the same authenticated ack instead of silence,
// and is not executed again. Bounded: only the newest `size` acks are kept.
// Beside it, the exact bytes of the newest accepted commands: a replay that is one of them is the
// authority's re-send (a counter the authority used twice would carry other bytes), known as such
// also after the node restarted.
import { openDurable, writeTransaction, type Db } from '../storage/durable-db.js';

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
  const remember = writeTransaction(db, (epoch: number, counter: bigint, ack: Uint8Array) => {
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

export interface RecentCommands {
  /** Keeps the exact bytes of an accepted command packet; the oldest beyond the bound are forgotten. */
  accepted(packet: Uint8Array, epoch: number, counter: bigint): void;
  /** The accepted command that is byte for byte `packet`, if it is still among the newest. */
  find(packet: Uint8Array): { epoch: number; counter: bigint } | undefined;
  /** Whether one of the newest accepted packets has the epoch and counter `packet` carries (whatever its other bytes). */
  knowsCounterOf(packet: Uint8Array): boolean;
  close(): void;
}

/** The key epoch and the low 24 bits of C, as the packet carries them (spec: bytes 0 and 5..7). */
const counterOf = (packet: Uint8Array) => ({ epoch: packet[0] & 0x3f, low24: (packet[5] << 16) | (packet[6] << 8) | packet[7] });

/**
 * The verifier's record of accepted packets, in the node's state file, on a connection of its own.
 * Its writes are not fsync'd (synchronous=NORMAL: a kill -9 keeps them, only a power loss can lose
 * the last few): nothing depends on them for safety — the replay window refuses a re-sent packet
 * either way — and an fsync per command costs 270 µs where the write costs 19 µs (measured here).
 */
export function openRecentCommands(path: string, size = DEFAULT_ACK_CACHE_SIZE): RecentCommands {
  const { db } = openDurable(path);
  db.pragma('synchronous = NORMAL');
  // low24 and the packet's epoch bits: among 1,024 newest counters the low 24 bits are unique.
  db.exec(`CREATE TABLE IF NOT EXISTS protocol_node_recent_commands (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    packet BLOB NOT NULL UNIQUE, epoch INTEGER NOT NULL, counter TEXT NOT NULL,
    packet_epoch INTEGER NOT NULL, low24 INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS protocol_node_recent_counters ON protocol_node_recent_commands (packet_epoch, low24)`);
  const insert = db.prepare<[Buffer, number, string, number, number]>(
    'INSERT OR REPLACE INTO protocol_node_recent_commands (packet, epoch, counter, packet_epoch, low24) VALUES (?, ?, ?, ?, ?)',
  );
  const trim = db.prepare<[number]>('DELETE FROM protocol_node_recent_commands WHERE seq <= ?');
  const select = db.prepare<[Buffer], { epoch: number; counter: string }>('SELECT epoch, counter FROM protocol_node_recent_commands WHERE packet = ?');
  const sameCounter = db.prepare<[number, number], { one: number }>('SELECT 1 AS one FROM protocol_node_recent_commands WHERE packet_epoch = ? AND low24 = ? LIMIT 1');
  const accepted = writeTransaction(db, (packet: Uint8Array, epoch: number, counter: bigint) => {
    const carried = counterOf(packet);
    const { lastInsertRowid } = insert.run(Buffer.from(packet), epoch, counter.toString(), carried.epoch, carried.low24);
    trim.run(Number(lastInsertRowid) - size);
  });
  return {
    accepted: (packet, epoch, counter) => void accepted(packet, epoch, counter),
    find: (packet) => {
      const row = select.get(Buffer.from(packet));
      return row && { epoch: row.epoch, counter: BigInt(row.counter) };
    },
    knowsCounterOf: (packet) => {
      const carried = counterOf(packet);
      return sameCounter.get(carried.epoch, carried.low24) !== undefined;
    },
    close: () => db.close(),
  };
}
