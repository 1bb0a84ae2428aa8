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

/**
 * The families of an exposition, by name. The parser folds a histogram's series into one sample
 * and loses their labels (it only handles unlabelled histograms), so the text is also parsed with
 * the histograms' TYPE lines left out: their `_bucket`, `_sum` and `_count` series then come as
 * families of their own, each with its labels.
 */
export function parseMetrics(text: string): Map<string, Family> {
  const families = new Map((parsePrometheusTextFormat(text) as Family[]).map((f) => [f.name, f]));
  const histograms = [...families.values()].filter((f) => f.type === 'HISTOGRAM').map((f) => f.name);
  const untyped = text
    .split('\n')
    .filter((line) => !histograms.some((h) => line === `# TYPE ${h} histogram`))
    .join('\n');
  // Each label set's run of lines comes as a family of its own: the runs are joined by name.
  for (const f of parsePrometheusTextFormat(untyped) as Family[]) {
    if (!histograms.some((h) => [`${h}_bucket`, `${h}_sum`, `${h}_count`].includes(f.name))) continue;
    const seen = families.get(f.name);
    families.set(f.name, seen ? { ...seen, metrics: [...seen.metrics, ...f.metrics] } : f);
  }
  return families;
}

/** The value of one series, 0 when it is not there yet (for a histogram, name its `_count`). */
export function seriesValue(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const series = families.get(name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return series ? Number(series.value) : 0;
}
