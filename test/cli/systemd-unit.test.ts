// The shipped unit template, checked by Debian's systemd-analyze: it prints a line for every key
// it does not know or cannot parse (and still exits 0), so the check is that it prints nothing.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../core/project-root.js';
import { scratchDir } from '../support/pipeline.js';

const UNIT = join(projectRoot(), 'deploy/systemd/ppn@.service');
const ANALYZE = '/usr/bin/systemd-analyze';

describe('deploy/systemd/ppn@.service', () => {
  before(function () {
    if (existsSync(ANALYZE)) return;
    if (process.env.CI === 'true') throw new Error(`${ANALYZE} is missing under CI (apt-get install systemd)`);
    console.log(`      SKIPPED (${ANALYZE} is missing): the unit check needs Debian's systemd; apt-get install systemd`);
    this.skip();
  });

  it('passes systemd-analyze verify for each shipped role, without a warning', async () => {
    const dir = scratchDir('systemd');
    copyFileSync(UNIT, join(dir, 'ppn@.service'));
    for (const role of ['cloud-relay', 'os-infrastructure', 'os-network-admin']) {
      const { code, output } = await new Promise<{ code: number; output: string }>((resolve) =>
        execFile(ANALYZE, ['verify', join(dir, `ppn@${role}.service`)], (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code) : 0, output: stdout + stderr })),
      );
      expect(output, role).to.equal('');
      expect(code, role).to.equal(0);
    }
  });

  it('is hardened: no new privileges, private /tmp, a 0700 state directory, restart on failure', () => {
    const unit = readFileSync(UNIT, 'utf8');
    for (const line of ['NoNewPrivileges=yes', 'PrivateTmp=yes', 'StateDirectory=ppn/%i', 'StateDirectoryMode=0700', 'Restart=on-failure', 'ProtectSystem=strict', 'ProtectHome=yes']) {
      expect(unit.split('\n'), line).to.include(line);
    }
    expect(unit).to.match(/^ExecStart=\/usr\/bin\/env ppn run --role %i --instance \/var\/lib\/ppn\/%i /m);
  });
});
