// Every role stops on SIGTERM within its stop timeout while its stdout cannot take a byte more
// (issue 12's fault suite): each node of the local mesh runs with stdout on a FIFO that the test
// filled to the brim and never reads, so every log write meets EAGAIN. A logger that waited for
// room (pino's exit flush did, forever) would keep the process alive until SIGKILL.
import { expect } from 'chai';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, constants, existsSync, openSync, readFileSync, watch, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { localFleet, prepareLocalMesh, type LocalNode } from '../../examples/local-mesh/fleet.js';
import { projectRoot } from '../../core/project-root.js';
import { CONTROL_FILE } from '../../core/runtime/control-server.js';
import { scratchDir } from '../support/pipeline.js';

const cli = join(projectRoot(), 'dist/core/cli/main.js');
const STOP_TIMEOUT_MS = 2000;

/** A FIFO opened for reading and writing (so it never reports a closed reader), already full. */
function fullFifo(path: string): number {
  const made = spawnSync('mkfifo', [path]);
  if (made.status !== 0) throw new Error(`mkfifo failed: ${made.stderr}`);
  const fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
  const chunk = Buffer.alloc(4096, 0x2e);
  for (;;) {
    try {
      writeSync(fd, chunk);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return fd;
      throw err;
    }
  }
}

function whenUp(instance: string, child: ChildProcess): Promise<void> {
  const path = join(instance, CONTROL_FILE);
  if (existsSync(path)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const watcher = watch(instance, () => existsSync(path) && (watcher.close(), resolve()));
    child.once('exit', (code) => (watcher.close(), reject(new Error(`exited (${code}) before it was up`))));
  });
}

function exitWithin(child: ChildProcess, ms: number): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`still running ${ms} ms after SIGTERM (stop timeout ${STOP_TIMEOUT_MS} ms)`)), ms);
    child.once('exit', (code, signal) => (clearTimeout(timer), resolve(code ?? (signal as unknown as number))));
  });
}

describe('faults: SIGTERM to every role while its stdout is full', function () {
  this.timeout(90_000);
  const children: ChildProcess[] = [];
  const fds: number[] = [];
  after(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const fd of fds) closeSync(fd);
  });

  it('the hub, the admin and both edge nodes each end within the stop timeout', async () => {
    const root = scratchDir('stop-roles');
    const nodes: LocalNode[] = localFleet(root, 40000 + Math.floor(Math.random() * 20000));
    prepareLocalMesh(nodes);
    for (const node of nodes) {
      const pipeline = JSON.parse(readFileSync(join(projectRoot(), 'pipelines', `${node.role}.json`), 'utf8'));
      delete pipeline.$schema;
      if (pipeline.stages.f8) pipeline.stages.f8.config.port = 0;
      const file = join(root, `${node.name}.pipeline.json`);
      writeFileSync(file, JSON.stringify(pipeline));
      const fd = fullFifo(join(root, `${node.name}.stdout`));
      fds.push(fd);
      const child = spawn(process.execPath, [cli, 'run', file, '--instance', node.instanceDir, '--no-watch',
        '--log-level', 'debug', '--stop-timeout', String(STOP_TIMEOUT_MS)], { stdio: ['ignore', fd, 'ignore'] });
      children.push(child);
    }
    await Promise.all(children.map((c, i) => whenUp(nodes[i].instanceDir, c)));
    const ended = children.map((c) => exitWithin(c, STOP_TIMEOUT_MS + 3000));
    for (const c of children) c.kill('SIGTERM');
    const codes = await Promise.all(ended);
    // 0 is a clean stop; 1 a stop that hit its timeout and exited anyway: both end the process.
    for (const [i, code] of codes.entries()) expect([0, 1], `${nodes[i].name} exit code`).to.include(code);
  });
});
