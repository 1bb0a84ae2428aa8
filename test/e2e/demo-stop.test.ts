// The demo's stop (issue 12 item 1): a signal to the demo stops its four nodes, and nodes whose
// demo was killed end by themselves. Spawns the multi-process mesh: run under the shared lock.
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { projectRoot } from '../../core/project-root.js';
import { CONTROL_FILE } from '../../core/runtime/control-server.js';
import { scratchDir } from '../support/pipeline.js';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Resolves once none of `pids` exists, checked at each exit of a process we can see, bounded. */
async function allGone(pids: number[], timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  // Not our children (the demo's): no exit event reaches us, so ask the kernel, briefly apart.
  while (pids.some(alive)) {
    if (Date.now() > until) throw new Error(`still running: ${pids.filter(alive).join(', ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function startDemo(): Promise<{ demo: ChildProcess; nodePids: number[] }> {
  const root = scratchDir('demo-stop');
  const demo = spawn(process.execPath, [join(projectRoot(), 'dist/examples/local-mesh/demo.js'), '--root', root, '--base-port', String(20000 + Math.floor(Math.random() * 20000))], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: demo.stdout! });
  await Promise.race([
    new Promise<void>((resolve) => lines.on('line', (l) => l.startsWith('The mesh keeps running') && resolve())),
    once(demo, 'exit').then(([code]) => {
      throw new Error(`the demo exited (${code}) before the mesh was up`);
    }),
  ]);
  lines.on('line', () => {}); // keep reading: the demo's own stdout must not fill
  const nodePids = readdirSync(root)
    .filter((d) => existsSync(join(root, d, CONTROL_FILE)))
    .map((d) => JSON.parse(readFileSync(join(root, d, CONTROL_FILE), 'utf8')).pid as number);
  expect(nodePids).to.have.length(4);
  return { demo, nodePids };
}

describe('demo: stopping the local mesh', function () {
  this.timeout(120_000);

  for (const signal of ['SIGTERM', 'SIGHUP'] as const) {
    it(`${signal} to the demo stops its four nodes`, async () => {
      const { demo, nodePids } = await startDemo();
      demo.kill(signal);
      const [code] = await once(demo, 'exit');
      expect(code).to.equal(0);
      await allGone(nodePids, 15_000);
    });
  }

  it('nodes end by themselves when the demo is killed (SIGKILL)', async () => {
    const { demo, nodePids } = await startDemo();
    demo.kill('SIGKILL');
    await once(demo, 'exit');
    await allGone(nodePids, 15_000);
  });
});
