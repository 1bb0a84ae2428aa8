// What the CLI suites share: running `ppn` as a user would (a child process, no terminal), and
// reading /metrics with a Prometheus text parser.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { projectRoot } from '../../core/project-root.js';

export const CLI = join(projectRoot(), 'dist/core/cli/main.js');

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export function ppn(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: unknown }).code as number) : 0;
      resolve({ code: typeof code === 'number' ? code : -1, stdout, stderr });
    });
  });
}

export interface Family {
  name: string;
  type: string;
  metrics: { value?: string; labels?: Record<string, string>; count?: string; buckets?: Record<string, string> }[];
}

export function parseMetrics(text: string): Map<string, Family> {
  return new Map((parsePrometheusTextFormat(text) as Family[]).map((f) => [f.name, f]));
}

/** The value of one series (0 when it is not there yet); `count` of a histogram. */
export function seriesValue(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const series = families.get(name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  if (!series) return 0;
  return Number(series.value ?? series.count);
}
