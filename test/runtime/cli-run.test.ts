import { expect } from 'chai';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { projectRoot } from '../../core/project-root.js';
import { scratchDir, writePipeline } from '../support/pipeline.js';

const cli = join(projectRoot(), 'dist/core/cli/main.js');
const run = promisify(execFile);

const pipeline = (v: number) => ({
  role: 'cli-test',
  node: { name: 'cli-node' },
  stages: {
    source: { type: 'generate', config: { perSecond: 200 } },
    middle: { type: 'tag', inputs: ['source'], config: { meta: { v } } },
    sink: { type: 'log-sink', inputs: ['middle'], config: { level: 'debug' } },
  },
});

/** Resolves with the first log record of the child that satisfies `match`. */
function waitForLog(child: ChildProcess, match: (rec: any) => boolean, timeoutMs = 10_000): Promise<any> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error('log line did not come')), timeoutMs);
    lines.on('line', (line) => {
      try {
        const rec = JSON.parse(line);
        if (match(rec)) {
          clearTimeout(timer);
          lines.close();
          resolve(rec);
        }
      } catch {
        /* not a log record */
      }
    });
  });
}

describe('ppn run', function () {
  this.timeout(30_000);

  it('runs a pipeline, answers status, reloads on SIGHUP and stops cleanly on SIGTERM', async () => {
    const dir = scratchDir('cli');
    const file = writePipeline(dir, pipeline(1));
    const child = spawn('node', [cli, 'run', file, '--no-watch'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      await waitForLog(child, (r) => r.msg === 'control endpoint on loopback');
      const status = await run('node', [cli, 'status', file, '--json']);
      const parsed = JSON.parse(status.stdout);
      expect(parsed.node).to.equal('cli-node');
      expect(Object.keys(parsed.stages)).to.deep.equal(['source', 'middle', 'sink']);
      expect(parsed.stages.middle.state).to.equal('running');

      writePipeline(dir, pipeline(2));
      const reloaded = waitForLog(child, (r) => r.msg === 'reload finished');
      child.kill('SIGHUP');
      const rec = await reloaded;
      expect(rec).to.include({ ok: true, why: 'SIGHUP' });
      expect(rec.changed).to.deep.equal(['middle']);

      writePipeline(dir, pipeline(3));
      const viaCli = await run('node', [cli, 'reload', file]);
      expect(viaCli.stdout).to.contain('changed [middle]');
      const human = await run('node', [cli, 'status', file]);
      expect(human.stdout).to.match(/middle\s+tag\s+running\s+gen 3/);
      expect(human.stdout).to.contain('reloads 2 (failed 0)');

      const stopped = waitForLog(child, (r) => r.msg === 'pipeline stopped');
      child.kill('SIGTERM');
      await stopped;
      const [code] = await once(child, 'exit');
      expect(code).to.equal(0);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('reloads by itself when the pipeline file is saved', async () => {
    const dir = scratchDir('cli-watch');
    const file = writePipeline(dir, pipeline(1));
    const child = spawn('node', [cli, 'run', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      await waitForLog(child, (r) => r.msg === 'control endpoint on loopback');
      const reloaded = waitForLog(child, (r) => r.msg === 'reload finished');
      writePipeline(dir, pipeline(2));
      const rec = await reloaded;
      expect(rec.why).to.equal(`changed: ${file}`);
      expect(rec.changed).to.deep.equal(['middle']);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('starts nothing and exits 2 when the file is invalid', async () => {
    const dir = scratchDir('cli-bad');
    const file = writePipeline(dir, { role: 'x', node: { name: 'n' }, stages: { a: { type: 'tag' } } });
    const err = await run('node', [cli, 'run', file]).catch((e) => e);
    expect(err.code).to.equal(2);
    expect(err.stderr).to.contain('/stages/a: \'tag\' is a transform and needs at least one input (stage a)');
    expect(err.stderr).to.contain('nothing was started');
  });

  it('answers `ppn status` for a node that is not running with a clear error', async () => {
    const dir = scratchDir('cli-none');
    const file = writePipeline(dir, pipeline(1));
    const err = await run('node', [cli, 'status', file]).catch((e) => e);
    expect(err.code).to.equal(1);
    expect(err.stderr).to.match(/no running node found: .*control\.json is missing/);
  });
});
