// The authority's command counter: one 64-bit counter per key epoch, starting at 1, never
// reusing a value. Values are handed out from blocks reserved in SQLite: the upper bound of a
// block is committed (fsync'd) before any value in it is used, and a restart resumes above the
// committed bound, so a crash at any instant skips at most one block and never repeats a value.
import { MAX_COUNTER } from './counter.js';
import { openDurable, type Db } from '../storage/durable-db.js';
import { checkEpoch } from './key-derivation.js';

/** Where the signer takes counters from. */
export interface CounterSource {
  /** The next unused counter of `epoch`, durable against reuse when it returns. */
  next(epoch: number): bigint;
}

export interface AuthorityCounter extends CounterSource {
  close(): void;
}

export interface AuthorityCounterOptions {
  /** Counters reserved per write. A crash wastes at most this many. Default 1024. */
  blockSize?: number;
}

export function openAuthorityCounter(target: string | Db, options: AuthorityCounterOptions = {}): AuthorityCounter {
  const blockSize = BigInt(options.blockSize ?? 1024);
  if (blockSize < 1n) throw new RangeError('blockSize must be at least 1');
  const { db, owned } = openDurable(target);
  db.exec(`CREATE TABLE IF NOT EXISTS protocol_counter_reservations (
    epoch INTEGER PRIMARY KEY CHECK (epoch BETWEEN 0 AND 63),
    reserved_through TEXT NOT NULL
  )`);
  const select = db.prepare<[number], { reserved_through: string }>(
    'SELECT reserved_through FROM protocol_counter_reservations WHERE epoch = ?',
  );
  const upsert = db.prepare<[number, string]>(
    'INSERT INTO protocol_counter_reservations (epoch, reserved_through) VALUES (?, ?) ' +
      'ON CONFLICT (epoch) DO UPDATE SET reserved_through = excluded.reserved_through',
  );
  // Reading and raising the bound in one IMMEDIATE transaction keeps two processes sharing the
  // database from reserving the same block.
  const reserve = db.transaction((epoch: number): { first: bigint; last: bigint } => {
    const row = select.get(epoch);
    const first = (row ? BigInt(row.reserved_through) : 0n) + 1n;
    if (first > MAX_COUNTER) throw new RangeError(`the counter space of key epoch ${epoch} is used up`);
    const last = first + blockSize - 1n > MAX_COUNTER ? MAX_COUNTER : first + blockSize - 1n;
    upsert.run(epoch, last.toString());
    return { first, last };
  });
  const blocks = new Map<number, { next: bigint; last: bigint }>();

  return {
    next(epoch) {
      checkEpoch(epoch);
      let block = blocks.get(epoch);
      if (!block || block.next > block.last) {
        const { first, last } = reserve.immediate(epoch);
        block = { next: first, last };
        blocks.set(epoch, block);
      }
      return block.next++;
    },
    close: () => {
      if (owned) db.close();
    },
  };
}
