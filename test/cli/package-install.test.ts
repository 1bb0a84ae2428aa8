// `ppn` as a user installs it: `npm pack` of this checkout, `npm install -g` of the tarball into
// a scratch prefix (npm's own cache first; better-sqlite3 is compiled), then `ppn --version`,
// `ppn --help` and `npx ppn --help` as typed. About a minute (the native build): run it alone,
// under the lock: flock /tmp/ppn-root-tests.lock node dist/test/run.js cli/package-install
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../core/project-root.js';
import { scratchDir } from '../support/pipeline.js';

function run(cmd: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) =>
    execFile(cmd, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, timeout: 300_000, maxBuffer: 16 << 20 }, (error, out, err) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? -1) : 0, out, err }),
    ),
  );
}

describe('npm pack, npm install -g, npx ppn', function () {
  this.timeout(360_000);
  const version = (JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  let prefix: string;
  let env: NodeJS.ProcessEnv;
  let work: string;

  before(async () => {
    const dir = scratchDir('pack');
    const packed = await run('npm', ['pack', '--pack-destination', dir], { cwd: projectRoot() });
    expect(packed.code, packed.err).to.equal(0);
    const tarball = join(dir, readdirSync(dir).find((f) => f.endsWith('.tgz'))!);
    prefix = join(dir, 'prefix');
    work = scratchDir('npx');
    // A user's shell: the prefix's bin on PATH, npm's global prefix there, no npm script context.
    const path = `${join(prefix, 'bin')}:${process.env.PATH}`;
    env = { PATH: path, npm_config_prefix: prefix, npm_lifecycle_event: '', npm_command: '' };
    const installed = await run('npm', ['install', '-g', '--prefer-offline', '--no-audit', '--no-fund', tarball], { cwd: work, env });
    expect(installed.code, installed.err).to.equal(0);
  });

  it('installs a `ppn` with a shebang that prints its version', async () => {
    const bin = join(prefix, 'bin', 'ppn');
    const r = await run(bin, ['--version'], { cwd: work, env });
    expect(r.code, r.err).to.equal(0);
    expect(r.out.trim()).to.equal(version);
  });

  it("`ppn --help` and `npx ppn --help` print ppn's help, with its commands", async () => {
    for (const [cmd, args] of [['ppn', ['--help']], ['npx', ['ppn', '--help']]] as const) {
      const r = await run(cmd, [...args], { cwd: work, env });
      expect(r.code, `${cmd}: ${r.err}`).to.equal(0);
      expect(r.out, cmd).to.match(/^Usage: ppn \[options\] \[command\]/);
      for (const command of ['run', 'status', 'send', 'commands', 'audit', 'route']) expect(r.out, `${cmd} lists ${command}`).to.match(new RegExp(`^ {2}${command}\\b`, 'm'));
    }
  });

  it('ships the role pipelines and the unit template, and no tests', async () => {
    const root = join(prefix, 'lib', 'node_modules', 'sovereign-mesh');
    for (const f of ['pipelines/os-infrastructure.json', 'deploy/systemd/ppn@.service', 'dist/plugins/f8-ingress/index.js', 'plugins/f8-ingress/web/index.html']) {
      expect(() => readFileSync(join(root, f)), f).to.not.throw();
    }
    expect(() => readdirSync(join(root, 'dist', 'test'))).to.throw();
  });
});
