// `ppn nodes list | head -1`, `ppn keys rotate --help | less` quit early: a reader that went away
// ends the command quietly (as SIGPIPE ends a C tool), not with an unhandled EPIPE and a stack.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from '../../core/project-root.js';

const MAIN = join(projectRoot(), 'dist/core/cli/main.js');

/** Runs ppn with its stdout's reading end closed before it writes anything. */
function withReaderGone(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('ppn: stdout closed by its reader', () => {
  for (const args of [['keys', 'rotate', '--help'], ['--help'], ['keys', 'gen']]) {
    it(`ppn ${args.join(' ')} ends quietly`, async () => {
      const { code, stderr } = await withReaderGone(args);
      expect(stderr).to.equal('');
      expect(code).to.equal(0);
    });
  }
});
