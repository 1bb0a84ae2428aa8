// Instance files are 0600 whatever the mode of the directory they are in (issue 12 item 10): an
// instance directory made beforehand with 0755 must not leave the admin's database, its WAL and
// shared-memory files, keys or tokens readable by other users.
import { expect } from 'chai';
import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { saveEnrolmentToken } from '../../core/genesis/authority-pin.js';
import { loadSecret } from '../../core/membership/instance-files.js';
import { openNodeState } from '../../core/protocol/node-state.js';
import { openRegistry } from '../../core/registry/registry.js';
import { scratchDir } from '../support/pipeline.js';

const modeOf = (path: string) => (statSync(path).mode & 0o777).toString(8);

describe('instance file modes', () => {
  let dir: string;
  beforeEach(() => {
    dir = join(scratchDir('modes'), 'admin');
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
  });

  it("the admin's database and its -wal and -shm are 0600 in a 0755 directory", () => {
    const registry = openRegistry(join(dir, 'admin.db'));
    registry.audit('test', 'write', {});
    const files = ['admin.db', 'admin.db-wal', 'admin.db-shm'].map((f) => [f, modeOf(join(dir, f))]);
    registry.close();
    expect(files).to.deep.equal([['admin.db', '600'], ['admin.db-wal', '600'], ['admin.db-shm', '600']]);
  });

  it('a database left world-readable by an older version is closed up when opened', () => {
    writeFileSync(join(dir, 'node-state.db'), '', { mode: 0o644 });
    chmodSync(join(dir, 'node-state.db'), 0o644);
    const state = openNodeState(join(dir, 'node-state.db'));
    state.close();
    expect(modeOf(join(dir, 'node-state.db'))).to.equal('600');
  });

  it('keys and enrolment tokens are 0600, also when a looser file was there before', () => {
    loadSecret(dir, 'identity.key', true);
    writeFileSync(join(dir, 'enrolment.token'), 'old\n', { mode: 0o644 });
    chmodSync(join(dir, 'enrolment.token'), 0o644);
    saveEnrolmentToken(dir, 'a'.repeat(43));
    expect([modeOf(join(dir, 'identity.key')), modeOf(join(dir, 'enrolment.token'))]).to.deep.equal(['600', '600']);
  });
});
