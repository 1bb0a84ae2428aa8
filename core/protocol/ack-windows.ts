// The authority's ack replay windows, kept in SQLite so that a restart forgets none: an ack taken
// before the restart is a duplicate after it, as before (docs/protocol.md, telemetry ack). One row
// per (node, epoch): H and the window's bitmap, written (durably) each time an ack is taken,
// before the caller records its outcome.
import { openDurable, type Db } from '../storage/durable-db.js';
import { createReplayWindow, type ReplayWindow } from './replay-window.js';

export interface AckWindowStore {
  /** The saved window of (node, epoch), or a fresh one. */
  load(nodeId: number, epoch: number): ReplayWindow;
  save(nodeId: number, epoch: number, window: ReplayWindow): void;
  close(): void;
}

export function openAckWindows(target: string | Db): AckWindowStore {
  const { db, owned } = openDurable(target);
  db.exec(`CREATE TABLE IF NOT EXISTS protocol_ack_windows (
    node_id INTEGER NOT NULL CHECK (node_id BETWEEN 1 AND 254),
    epoch INTEGER NOT NULL CHECK (epoch BETWEEN 0 AND 63),
    highest TEXT NOT NULL,
    bitmap BLOB NOT NULL,
    PRIMARY KEY (node_id, epoch)
  )`);
  const select = db.prepare<[number, number], { highest: string; bitmap: Buffer }>('SELECT highest, bitmap FROM protocol_ack_windows WHERE node_id = ? AND epoch = ?');
  const upsert = db.prepare<[number, number, string, Buffer]>(
    'INSERT INTO protocol_ack_windows (node_id, epoch, highest, bitmap) VALUES (?, ?, ?, ?) ON CONFLICT (node_id, epoch) DO UPDATE SET highest = excluded.highest, bitmap = excluded.bitmap',
  );
  return {
    load(nodeId, epoch) {
      const row = select.get(nodeId, epoch);
      return row ? createReplayWindow(BigInt(row.highest), row.bitmap) : createReplayWindow();
    },
    save: (nodeId, epoch, window) => void upsert.run(nodeId, epoch, window.highest.toString(), window.bitmap()),
    close: () => {
      if (owned) db.close();
    },
  };
}
