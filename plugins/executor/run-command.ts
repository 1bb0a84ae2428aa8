// Runs a configured command: an argv array, never through a shell, with a time limit.
import { execFile } from 'node:child_process';
import type { HandlerResult } from './handlers.js';

const MAX_DETAIL = 180;

export function runCommand(argv: string[], timeoutMs: number): Promise<HandlerResult> {
  return new Promise((resolve) => {
    execFile(argv[0], argv.slice(1), { timeout: timeoutMs, shell: false, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (!err) return resolve({ status: 'executed', detail: lastLine(stdout) || `${argv[0]} exited 0` });
      const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: number | string };
      if (e.killed) return resolve({ status: 'failed', detail: `${argv[0]} timed out after ${timeoutMs} ms` });
      if (e.code === 'ENOENT') return resolve({ status: 'failed', detail: `${argv[0]}: command not found` });
      resolve({ status: 'failed', detail: `${argv[0]} exited ${e.code}: ${lastLine(stderr) || lastLine(stdout)}` });
    });
  });
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return (lines[lines.length - 1] ?? '').slice(0, MAX_DETAIL);
}
