// Two connections on one database file, as the CLI and a running admin on admin.db: a transaction
// that reads and then writes must not fail because the other wrote in between.
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDurable, writeTransaction, type Db } from '../../core/storage/durable-db.js';

describe('storage: write transactions beside another process', () => {
  let dir: string;
  let mine: Db;
  let theirs: Db;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ppn-storage-'));
    mine = openDurable(join(dir, 'admin.db')).db;
    theirs = openDurable(join(dir, 'admin.db')).db;
    mine.exec('CREATE TABLE nodes (id INTEGER PRIMARY KEY, status TEXT)');
    mine.prepare("INSERT INTO nodes VALUES (2, 'pending')").run();
  });
  afterEach(() => {
    mine.close();
    theirs.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const approve = (between: () => void) => () => {
    const { status } = mine.prepare<[], { status: string }>('SELECT status FROM nodes WHERE id = 2').get()!;
    between();
    if (status === 'pending') mine.prepare("UPDATE nodes SET status = 'active' WHERE id = 2").run();
  };

  it('a deferred transaction that read before the other connection wrote fails at once (what writeTransaction avoids)', () => {
    const otherWrites = () => theirs.prepare("INSERT INTO nodes VALUES (3, 'pending')").run();
    expect(() => mine.transaction(approve(otherWrites))()).to.throw(/database is locked/);
  });

  it('a write transaction holds the write lock from its start: the other connection waits, and it commits', () => {
    theirs.pragma('busy_timeout = 0');
    let refused = '';
    const otherTries = () => {
      try {
        theirs.prepare("INSERT INTO nodes VALUES (3, 'pending')").run();
      } catch (err) {
        refused = (err as Error).message;
      }
    };
    writeTransaction(mine, approve(otherTries))();
    expect(refused).to.match(/database is locked/);
    expect(mine.prepare('SELECT status FROM nodes WHERE id = 2').pluck().get()).to.equal('active');
    // Once it committed, the other's write goes through.
    theirs.prepare("INSERT INTO nodes VALUES (3, 'pending')").run();
    expect(mine.prepare('SELECT COUNT(*) FROM nodes').pluck().get()).to.equal(2);
  });
});
