// The node's ack cache: the same bytes back for a recent command, only the newest kept, and
// still there after the node's state is reopened (a restart).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { openAckCache, openRecentCommands } from '../../core/protocol/ack-cache.js';

describe('ack cache', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'ppn-ack-cache-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('gives back the ack of each of the newest commands, forgets older ones, and keeps them across a reopen', () => {
    const file = join(dir, 'state.db');
    const cache = openAckCache(file, 3);
    for (let c = 1n; c <= 5n; c++) cache.remember(0, c, Buffer.from([0xc1, Number(c)]));
    cache.remember(1, 5n, Buffer.from([0xc1, 0x15]));
    cache.close();
    const reopened = openAckCache(file, 3);
    expect([1n, 2n, 3n, 4n, 5n].map((c) => reopened.lookup(0, c)?.toString('hex'))).to.deep.equal([undefined, undefined, undefined, 'c104', 'c105']);
    expect(reopened.lookup(1, 5n)?.toString('hex')).to.equal('c115');
    expect(reopened.lookup(2, 5n)).to.equal(undefined);
    reopened.close();
  });

  it('keeps one ack per command: a second one for the same counter replaces the first', () => {
    const cache = openAckCache(join(dir, 'state.db'), 3);
    cache.remember(0, 2n ** 64n - 1n, Buffer.from([1]));
    cache.remember(0, 2n ** 64n - 1n, Buffer.from([2]));
    cache.remember(0, 7n, Buffer.from([3]));
    expect([cache.lookup(0, 2n ** 64n - 1n), cache.lookup(0, 7n)].map((b) => b?.toString('hex'))).to.deep.equal(['02', '03']);
    cache.close();
  });

  it('knows the newest accepted packets by their exact bytes, also after a reopen', () => {
    const file = join(dir, 'state.db');
    const recent = openRecentCommands(file, 3);
    const packet = (c: number) => Buffer.from([0x40, 1, 0, 0, 3, 0, 0, c, 1, 2, 3, 4, 5, 6, 7, 8]);
    for (let c = 1; c <= 4; c++) recent.accepted(packet(c), 0, BigInt(c));
    recent.close();
    const reopened = openRecentCommands(file, 3);
    expect([1, 2, 4].map((c) => reopened.find(packet(c)))).to.deep.equal([undefined, { epoch: 0, counter: 2n }, { epoch: 0, counter: 4n }]);
    const other = packet(4);
    other[1] = 2;
    expect(reopened.find(other)).to.equal(undefined);
    // Other bytes, the same epoch and counter: known; a forgotten or another epoch's counter: not.
    const otherEpoch = packet(4);
    otherEpoch[0] = 0x41;
    expect([other, packet(1), otherEpoch].map((p) => reopened.knowsCounterOf(p))).to.deep.equal([true, false, false]);
    reopened.close();
  });
});
