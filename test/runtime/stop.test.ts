// `ppn run` ends on SIGTERM within its stop timeout whatever its stdout does (issue 12 item 1),
// and a node started by a launcher ends when the launcher dies.
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, watch } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../core/project-root.js';
import { CONTROL_FILE, type ControlFile } from '../../core/runtime/control-server.js';
import { scratchDir, writePipeline } from '../support/pipeline.js';

const cli = join(projectRoot(), 'dist/core/cli/main.js');
const STOP_TIMEOUT_MS = 1500;

/** A node that logs a line per envelope, thousands a second: enough to fill any pipe. */
function noisyNode(name: string) {
  const dir = scratchDir(name);
  const instance = join(dir, 'instance');
  mkdirSync(instance, { recursive: true });
  const file = writePipeline(dir, {
    role: 'stop-test',
    node: { name },
    stages: {
      source: { type: 'generate', config: { perSecond: 20_000 } },
      sink: { type: 'log-sink', inputs: ['source'], config: { level: 'info', message: 'x'.repeat(200) } },
    },
  });
  return { file, instance };
}

const args = (file: string, instance: string) => [cli, 'run', file, '--instance', instance, '--no-watch', '--stop-timeout', String(STOP_TIMEOUT_MS)];

/** The node's control file, once it is written (the node is up). */
async function controlOf(instance: string, child: ChildProcess): Promise<ControlFile> {
  const path = join(instance, CONTROL_FILE);
  if (!existsSync(path)) {
    const watcher = watch(instance);
    try {
      await Promise.race([
        new Promise<void>((resolve) => watcher.on('change', () => existsSync(path) && resolve())),
        once(child, 'exit').then(() => {
          throw new Error('the node exited before it was up');
        }),
      ]);
    } finally {
      watcher.close();
    }
  }
  return JSON.parse(readFileSync(path, 'utf8'));
}

async function status(control: ControlFile): Promise<any> {
  const res = await fetch(`${control.url}/status`, { headers: { authorization: `Bearer ${control.token}` }, signal: AbortSignal.timeout(2_000) });
  return res.json();
}

/** Resolves with the exit code, or rejects if the process has not ended within `ms`. */
function exitWithin(child: ChildProcess, ms: number): Promise<number | null> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`still running ${ms} ms after SIGTERM (stop timeout ${STOP_TIMEOUT_MS} ms)`));
    }, ms);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

describe('ppn run: stop whatever stdout does', function () {
  this.timeout(30_000);
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });

  it('ends within the stop timeout on SIGTERM while its stdout pipe is full (reader stopped); the log drops and counts', async () => {
    const { file, instance } = noisyNode('stop-full');
    const child = spawn(process.execPath, args(file, instance), { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    child.stdout!.pause(); // the reader stops reading: the pipe fills
    const control = await controlOf(instance, child);
    // The node still answers while nobody reads its log: the lines are dropped, counted.
    let log: { written: number; dropped: Record<string, number> };
    do log = (await status(control)).log;
    while (log.dropped.full === 0);
    expect(log.written).to.be.greaterThan(0);
    child.kill('SIGTERM');
    expect(await exitWithin(child, STOP_TIMEOUT_MS * 3)).to.be.a('number');
  });

  it('ends within the stop timeout on SIGTERM after its stdout reader died', async () => {
    const { file, instance } = noisyNode('stop-closed');
    const child = spawn(process.execPath, args(file, instance), { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    const control = await controlOf(instance, child);
    child.stdout!.destroy(); // the reader is gone: writes fail with EPIPE
    let log: { dropped: Record<string, number> };
    do log = (await status(control)).log;
    while (log.dropped.closed === 0);
    child.kill('SIGTERM');
    expect(await exitWithin(child, STOP_TIMEOUT_MS * 3)).to.equal(0);
  });

  it('a node started over an IPC channel ends when its launcher is killed', async () => {
    const { file, instance } = noisyNode('stop-orphan');
    // The launcher: a process that starts the node with an IPC channel, says its pid, and waits.
    const launcherCode = `
      const { spawn } = require('node:child_process');
      const node = spawn(process.execPath, ${JSON.stringify(args(file, instance))}, { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
      process.stdout.write(String(node.pid) + '\\n');
      setInterval(() => {}, 1000);`;
    const launcher = spawn(process.execPath, ['-e', launcherCode], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(launcher);
    const [line] = (await once(launcher.stdout!, 'data')) as [Buffer];
    const nodePid = Number(line.toString().trim());
    const control = await controlOf(instance, launcher);
    expect(control.pid).to.equal(nodePid);
    launcher.kill('SIGKILL'); // no chance to stop its child
    await once(launcher, 'exit');
    // The node's control file goes when it stops; watch for that, bounded.
    const path = join(instance, CONTROL_FILE);
    const gone = new Promise<void>((resolve) => {
      const watcher = watch(instance, () => {
        if (!existsSync(path)) {
          watcher.close();
          resolve();
        }
      });
      if (!existsSync(path)) (watcher.close(), resolve());
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([gone, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('the node outlived its launcher')), STOP_TIMEOUT_MS * 3)))]);
    clearTimeout(timer);
    // Gone for good: signal 0 finds no such process once it has exited.
    await new Promise<void>(function check(resolve) {
      try {
        process.kill(nodePid, 0);
        setTimeout(() => check(resolve), 20);
      } catch {
        resolve();
      }
    });
  });
});
