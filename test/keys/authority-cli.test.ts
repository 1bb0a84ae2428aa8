// `ppn keys rotate-authority`, the real CLI on an admin made by `ppn authority init`: usage
// mistakes exit 2 with the reason and change nothing; without --yes (and no terminal) nothing
// is rotated; a rotation writes the new keys 0600, moves the old ones to retired/ (0700), records
// the hand-over (audited) and prints no secret; the same key again within its overlap is refused.
import { expect } from 'chai';
import { copyFileSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { openHandoverLog } from '../../core/registry/authority-handovers.js';
import { openRegistry } from '../../core/registry/registry.js';
import { scratchDir } from '../support/pipeline.js';
import { ppn } from '../cli/support.js';

describe('ppn keys rotate-authority', function () {
  this.timeout(30_000);
  let dir: string;
  const keyText = (name: string) => readFileSync(join(dir, name), 'utf8').trim();
  const handovers = () => {
    const registry = openRegistry(join(dir, 'admin.db'));
    try {
      return openHandoverLog(registry).all();
    } finally {
      registry.close();
    }
  };

  before(async () => {
    dir = join(scratchDir('rotate-authority'), 'admin');
    const init = await ppn(['authority', 'init', '--instance', dir, '--listen', '127.0.0.1:51820']);
    expect(init.code, init.stderr).to.equal(0);
  });

  it('refuses usage mistakes with exit 2 and the reason, changing nothing', async () => {
    const genesis = keyText('genesis.key');
    for (const [args, reason] of [
      [[], /say which key: --genesis, --command or both/],
      [['--genesis', '--overlap', '10 minutes'], /--overlap takes a duration like 90s, 10m, 1h or 2d, got '10 minutes'/],
      [['--genesis', '--overlap', '400d'], /at most 366 days/],
    ] as const) {
      const r = await ppn(['keys', 'rotate-authority', ...args, '--yes', '--instance', dir]);
      expect(r.code, r.stderr).to.equal(2);
      expect(r.stderr).to.match(reason);
    }
    const elsewhere = await ppn(['keys', 'rotate-authority', '--genesis', '--yes', '--instance', scratchDir('not-admin')]);
    expect(elsewhere.code).to.equal(2);
    expect(elsewhere.stderr).to.include("is not an authority's instance directory");
    expect(keyText('genesis.key')).to.equal(genesis);
    expect(handovers()).to.deep.equal([]);
  });

  it('without --yes and without a terminal, rotates nothing (exit 7)', async () => {
    const r = await ppn(['keys', 'rotate-authority', '--genesis', '--instance', dir]);
    expect(r.code).to.equal(7);
    expect(r.stdout).to.include('not rotated: not confirmed');
    expect(handovers()).to.deep.equal([]);
  });

  it('rotates both keys: new 0600 files, the old ones in retired/, the hand-over recorded and audited, no secret printed', async () => {
    const [oldGenesis, oldCommand] = [keyText('genesis.key'), keyText('command.key')];
    const r = await ppn(['keys', 'rotate-authority', '--genesis', '--command', '--overlap', '10m', '--yes', '--json', '--instance', dir]);
    expect(r.code, r.stderr).to.equal(0);
    const out = JSON.parse(r.stdout);
    expect(out).to.deep.include({ exitCode: 0, handover: 1 });
    const [newGenesis, newCommand] = [keyText('genesis.key'), keyText('command.key')];
    expect(newGenesis).to.not.equal(oldGenesis);
    expect(newCommand).to.not.equal(oldCommand);
    for (const secret of [oldGenesis, oldCommand, newGenesis, newCommand]) expect(r.stdout + r.stderr).to.not.include(secret);
    expect(keyText('retired/genesis.1.key')).to.equal(oldGenesis);
    expect(keyText('retired/command.1.key')).to.equal(oldCommand);
    for (const f of ['genesis.key', 'command.key', 'retired/genesis.1.key', 'retired/command.1.key']) expect(statSync(join(dir, f)).mode & 0o777, f).to.equal(0o600);
    expect(statSync(join(dir, 'retired')).mode & 0o777).to.equal(0o700);
    const [h] = handovers();
    expect(h).to.deep.include({ number: 1, genesisKey: out.genesisKey, commandPublicKey: out.commandPublicKey, retired: false });
    expect(h.overlapUntil - h.issuedAt).to.equal(600_000);
    const registry = openRegistry(join(dir, 'admin.db'));
    try {
      expect(registry.auditLog(5).find((a) => a.action === 'authority.handover')?.detail).to.deep.include({ number: 1, genesisKey: out.genesisKey });
    } finally {
      registry.close();
    }
    // A bundle made now pins the new keys and the hand-over's number.
    const bundle = join(dir, '..', 'bundle.json');
    expect((await ppn(['provision', 'export', '--instance', dir, '--out', bundle])).code).to.equal(0);
    expect(JSON.parse(readFileSync(bundle, 'utf8')).authority).to.deep.include({ genesisKey: out.genesisKey, commandPublicKey: out.commandPublicKey, handover: 1 });
  });

  it('refuses the same key again within its overlap', async () => {
    const r = await ppn(['keys', 'rotate-authority', '--command', '--yes', '--instance', dir]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/hand-over 1 of that key is still in its overlap/);
    expect(handovers()).to.have.length(1);
  });

  it('finds the keys a rotation that died before recording its hand-over left, and says what to do', async () => {
    const other = join(scratchDir('rotate-authority-died'), 'admin');
    expect((await ppn(['authority', 'init', '--instance', other, '--listen', '127.0.0.1:51821'])).code).to.equal(0);
    mkdirSync(join(other, 'retired'), { mode: 0o700 });
    copyFileSync(join(other, 'genesis.key'), join(other, 'retired', 'genesis.1.key'));
    const genesis = readFileSync(join(other, 'genesis.key'), 'utf8');
    const r = await ppn(['keys', 'rotate-authority', '--genesis', '--yes', '--instance', other]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include('retired/genesis.1.key exists but hand-over 1 was never recorded').and.include('move it back over genesis.key');
    expect(readFileSync(join(other, 'genesis.key'), 'utf8')).to.equal(genesis);
  });

  it('explains itself in --help', async () => {
    const r = await ppn(['keys', 'rotate-authority', '--help']);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.include('--overlap <duration>').and.include('retired/').and.include('Authority keys');
  });
});
