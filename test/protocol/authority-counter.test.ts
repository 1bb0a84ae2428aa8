import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { projectRoot } from '../../core/project-root.js';
import { openAuthorityCounter } from '../../core/protocol/authority-counter.js';
import { tempDir } from './fixtures/setup.js';

const BURST = join(projectRoot(), 'dist', 'test', 'protocol', 'fixtures', 'authority-burst.js');

/** Runs the burst child until it printed at least `lines` counters, SIGKILLs it, returns what it printed. */
function burstAndKill(file: string, blockSize: number, lines: number): Promise<bigint[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BURST, file, String(blockSize)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let killed = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (!killed && out.split('\n').length > lines) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (signal !== 'SIGKILL') return reject(new Error(`burst child ended by itself (code ${code}): ${err}`));
      // Only whole lines: the kill may cut the last one.
      resolve(out.split('\n').slice(0, -1).map((l) => BigInt(l)));
    });
  });
}

describe('protocol authority counter', () => {
  it('starts at 1 and counts up', () => {
    const counter = openAuthorityCounter(join(tempDir('counter'), 'a.db'), { blockSize: 3 });
    expect([counter.next(), counter.next(), counter.next(), counter.next()]).to.deep.equal([1n, 2n, 3n, 4n]);
    counter.close();
  });

  it('starts above every per-epoch bound a database reserved before the sequence was shared', () => {
    const file = join(tempDir('counter'), 'a.db');
    const db = new Database(file);
    db.exec("CREATE TABLE protocol_counter_reservations (epoch INTEGER PRIMARY KEY CHECK (epoch BETWEEN 0 AND 63), reserved_through TEXT NOT NULL)");
    db.exec("INSERT INTO protocol_counter_reservations VALUES (0, '2048'), (5, '70000'), (6, '3')");
    db.close();
    const counter = openAuthorityCounter(file, { blockSize: 10 });
    expect([counter.next(), counter.next()]).to.deep.equal([70001n, 70002n]);
    counter.close();
    const reopened = openAuthorityCounter(file, { blockSize: 10 });
    expect(reopened.next()).to.equal(70011n);
    reopened.close();
  });

  it('resumes above the persisted bound after a restart, and uses WAL with synchronous=FULL', () => {
    const file = join(tempDir('counter'), 'a.db');
    let counter = openAuthorityCounter(file, { blockSize: 10 });
    expect([counter.next(), counter.next(), counter.next()]).to.deep.equal([1n, 2n, 3n]);
    counter.close();
    counter = openAuthorityCounter(file, { blockSize: 10 });
    expect(counter.next()).to.equal(11n);
    counter.close();

    const db = new Database(file);
    expect(db.pragma('journal_mode', { simple: true })).to.equal('wal');
    const shared = openAuthorityCounter(db);
    expect(db.pragma('synchronous', { simple: true })).to.equal(2); // FULL
    expect(shared.next()).to.equal(21n);
    shared.close();
    db.close();
  });

  it('never hands the same value to two stores sharing one database', () => {
    const file = join(tempDir('counter'), 'a.db');
    const a = openAuthorityCounter(file, { blockSize: 4 });
    const b = openAuthorityCounter(file, { blockSize: 4 });
    const seen = new Set<bigint>();
    for (let i = 0; i < 200; i++) {
      for (const c of [a.next(), b.next(), b.next()]) {
        expect(seen.has(c), `counter ${c} twice`).to.equal(false);
        seen.add(c);
      }
    }
    a.close();
    b.close();
  });

  it('never repeats a counter when the authority is killed with SIGKILL mid-burst (25 times)', async function () {
    this.timeout(60_000);
    const file = join(tempDir('kill'), 'authority.db');
    const all = new Set<bigint>();
    let previousMax = 0n;
    let printed = 0;
    for (let run = 0; run < 25; run++) {
      // Small blocks so that kills land inside reservations too, not only between them.
      const counters = await burstAndKill(file, 1 + (run % 7) * 5, 20 + ((run * 97) % 400));
      expect(counters.length, `run ${run} printed`).to.be.greaterThan(0);
      expect(counters[0] > previousMax, `run ${run} starts above the last run`).to.equal(true);
      for (const c of counters) {
        expect(all.has(c), `counter ${c} used twice (run ${run})`).to.equal(false);
        all.add(c);
        if (c > previousMax) previousMax = c;
      }
      printed += counters.length;
    }
    expect(all.size).to.equal(printed);
  });
});
