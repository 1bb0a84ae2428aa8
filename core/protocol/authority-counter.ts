// The authority's command counter. The spec asks for one 64-bit counter per key epoch, starting at
// 1, never reusing a value; we keep one sequence for every epoch, which is that and more: each
// epoch's values still only go up, and no value is used in two epochs either. Nodes move between
// epochs one by one (docs/protocol.md, key lifecycle), and one command for nodes in different
// epochs must carry one C that is new in each of them, which a shared sequence gives by
// construction. Values are handed out from blocks reserved in SQLite: the upper bound of a
// block is committed (fsync'd) before any value in it is used, and a restart resumes above the
// committed bound, so a crash at any instant skips at most one block and never repeats a value.
import { MAX_COUNTER } from './counter.js';
import { openDurable, writeTransaction, type Db } from '../storage/durable-db.js';

/** Where the signer takes counters from. */
export interface CounterSource {
  /** The next unused counter, durable against reuse when it returns, new in every key epoch. */
  next(): bigint;
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
  // protocol_counter_reservations held one bound per epoch before the sequence was shared; the
  // shared one starts above all of them, so no value reserved there is ever handed out again.
  db.exec(`CREATE TABLE IF NOT EXISTS protocol_counter_reservations (
    epoch INTEGER PRIMARY KEY CHECK (epoch BETWEEN 0 AND 63),
    reserved_through TEXT NOT NULL
  );
  CREATE TABLE IF NOT EXISTS protocol_counter (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    reserved_through TEXT NOT NULL
  )`);
  const bounds = db.prepare<[], { reserved_through: string }>(
    'SELECT reserved_through FROM protocol_counter UNION ALL SELECT reserved_through FROM protocol_counter_reservations',
  );
  const upsert = db.prepare<[string]>(
    'INSERT INTO protocol_counter (one, reserved_through) VALUES (1, ?) ON CONFLICT (one) DO UPDATE SET reserved_through = excluded.reserved_through',
  );
  // Reading and raising the bound in one IMMEDIATE transaction keeps two processes sharing the
  // database from reserving the same block.
  const reserve = writeTransaction(db, (): { first: bigint; last: bigint } => {
    const highest = bounds.all().reduce((max, row) => (BigInt(row.reserved_through) > max ? BigInt(row.reserved_through) : max), 0n);
    const first = highest + 1n;
    if (first > MAX_COUNTER) throw new RangeError('the command counter space is used up');
    const last = first + blockSize - 1n > MAX_COUNTER ? MAX_COUNTER : first + blockSize - 1n;
    upsert.run(last.toString());
    return { first, last };
  });
  let block = { next: 1n, last: 0n };

  return {
    next() {
      if (block.next > block.last) {
        const { first, last } = reserve();
        block = { next: first, last };
      }
      return block.next++;
    },
    close: () => {
      if (owned) db.close();
    },
  };
}
