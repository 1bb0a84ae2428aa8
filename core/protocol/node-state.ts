// What a node must remember per key epoch so that no command runs twice, across restarts.
import { openDurable, type Db } from '../storage/durable-db.js';

export interface EpochState {
  /** H: the highest counter accepted in this epoch, 0 if none. */
  highest: bigint;
  /**
   * An upper bound on the failed tag checks counted in this epoch. Reserved ahead in blocks
   * (like the authority's counter), so a crash can only overstate the count, never reset it.
   */
  failedTags: number;
  /** The epoch's key hit the failed-tag cap and is refused for good. */
  retired: boolean;
}

/**
 * The epoch before the current one while it is still accepted, and until when (epoch
 * milliseconds; null: until the authority confirms the current one), so a restart keeps it.
 */
export interface PreviousEpoch {
  epoch: number;
  until: number | null;
}

/** Every write is durable when the call returns. */
export interface NodeStateStore {
  load(epoch: number): EpochState;
  saveHighest(epoch: number, highest: bigint): void;
  saveFailedTags(epoch: number, failedTags: number): void;
  retire(epoch: number): void;
  loadPrevious(): PreviousEpoch | undefined;
  savePrevious(previous: PreviousEpoch | undefined): void;
  close(): void;
}

const FRESH: EpochState = { highest: 0n, failedTags: 0, retired: false };

/** State kept in memory only: for one-shot tools (`ppn packet verify`) and benchmarks. */
export function memoryNodeState(initial: Record<number, Partial<EpochState>> = {}): NodeStateStore {
  const epochs = new Map<number, EpochState>();
  let previous: PreviousEpoch | undefined;
  for (const [epoch, state] of Object.entries(initial)) epochs.set(Number(epoch), { ...FRESH, ...state });
  const get = (epoch: number) => {
    let state = epochs.get(epoch);
    if (!state) epochs.set(epoch, (state = { ...FRESH }));
    return state;
  };
  return {
    load: (epoch) => ({ ...get(epoch) }),
    saveHighest: (epoch, highest) => void (get(epoch).highest = highest),
    saveFailedTags: (epoch, failedTags) => void (get(epoch).failedTags = failedTags),
    retire: (epoch) => void (get(epoch).retired = true),
    loadPrevious: () => previous && { ...previous },
    savePrevious: (next) => void (previous = next && { ...next }),
    close: () => {},
  };
}

/**
 * The node's state in SQLite (its instance database, or a file of its own). Counters are stored
 * as decimal text: SQLite integers are signed 64-bit and C may use all 64 bits.
 */
export function openNodeState(target: string | Db): NodeStateStore {
  const { db, owned } = openDurable(target);
  db.exec(`CREATE TABLE IF NOT EXISTS protocol_node_epochs (
    epoch INTEGER PRIMARY KEY CHECK (epoch BETWEEN 0 AND 63),
    highest TEXT NOT NULL DEFAULT '0',
    failed_tags INTEGER NOT NULL DEFAULT 0,
    retired INTEGER NOT NULL DEFAULT 0
  );
  CREATE TABLE IF NOT EXISTS protocol_node_previous_epoch (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    epoch INTEGER NOT NULL CHECK (epoch BETWEEN 0 AND 63),
    until INTEGER
  )`);
  const selectPrevious = db.prepare<[], { epoch: number; until: number | null }>('SELECT epoch, until FROM protocol_node_previous_epoch WHERE one = 1');
  const upsertPrevious = db.prepare<[number, number | null]>(
    'INSERT INTO protocol_node_previous_epoch (one, epoch, until) VALUES (1, ?, ?) ON CONFLICT (one) DO UPDATE SET epoch = excluded.epoch, until = excluded.until',
  );
  const deletePrevious = db.prepare('DELETE FROM protocol_node_previous_epoch');
  const select = db.prepare<[number], { highest: string; failed_tags: number; retired: number }>(
    'SELECT highest, failed_tags, retired FROM protocol_node_epochs WHERE epoch = ?',
  );
  const upsertHighest = db.prepare<[number, string]>(
    'INSERT INTO protocol_node_epochs (epoch, highest) VALUES (?, ?) ON CONFLICT (epoch) DO UPDATE SET highest = excluded.highest',
  );
  const upsertFailed = db.prepare<[number, number]>(
    'INSERT INTO protocol_node_epochs (epoch, failed_tags) VALUES (?, ?) ON CONFLICT (epoch) DO UPDATE SET failed_tags = excluded.failed_tags',
  );
  const upsertRetired = db.prepare<[number]>(
    'INSERT INTO protocol_node_epochs (epoch, retired) VALUES (?, 1) ON CONFLICT (epoch) DO UPDATE SET retired = 1',
  );
  return {
    load(epoch) {
      const row = select.get(epoch);
      if (!row) return { ...FRESH };
      return { highest: BigInt(row.highest), failedTags: row.failed_tags, retired: row.retired === 1 };
    },
    saveHighest: (epoch, highest) => void upsertHighest.run(epoch, highest.toString()),
    saveFailedTags: (epoch, failedTags) => void upsertFailed.run(epoch, failedTags),
    retire: (epoch) => void upsertRetired.run(epoch),
    loadPrevious: () => selectPrevious.get(),
    savePrevious: (previous) => void (previous ? upsertPrevious.run(previous.epoch, previous.until) : deletePrevious.run()),
    close: () => {
      if (owned) db.close();
    },
  };
}
