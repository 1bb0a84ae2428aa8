// Runs every compiled test file under dist/test and ends with the line CI reads:
// "N passed, N failed" (plus skipped tests, each with the reason it printed), then reports what
// the tests left open (leaked handles, by type) and exits with the result's code.
// Usage: node dist/test/run.js [substring ...]  — only files whose path contains one of them.
import Mocha from 'mocha';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatLeakReport, leakReport } from './leak-report.js';

const testRoot = dirname(fileURLToPath(import.meta.url));

function findTestFiles(dir: string): string[] {
  return readdirSync(dir).sort().flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return findTestFiles(path);
    return name.endsWith('.test.js') ? [path] : [];
  });
}

const filters = process.argv.slice(2);
const files = findTestFiles(testRoot).filter(
  (f) => filters.length === 0 || filters.some((s) => relative(testRoot, f).includes(s)),
);

const mocha = new Mocha({ timeout: 60_000, reporter: 'spec', forbidOnly: true });
for (const f of files) mocha.addFile(f);
await mocha.loadFilesAsync();

let passed = 0;
let failed = 0;
let skipped = 0;
const runner = mocha.run();
runner.on('pass', () => passed++);
runner.on('fail', () => failed++);
runner.on('pending', () => skipped++);
runner.on('end', () => {
  if (files.length === 0) failed++;
  console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  process.exitCode = failed > 0 || passed === 0 ? 1 : 0;
  // What closes by itself gets a moment to (a socket's close event, a child's exit); what is
  // open after that was left by a test. The results are final: report, then end regardless.
  setTimeout(() => {
    const report = formatLeakReport(leakReport());
    if (report) console.log(report);
    process.exit(process.exitCode);
  }, 500).unref();
});
