// `npm run bench`: runs every compiled *.bench.js under dist/bench, one at a time, each printing
// its own table. Usage: node dist/bench/run.js [substring ...]
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const benchRoot = dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);
const files = readdirSync(benchRoot, { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.bench.js'))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();

for (const f of files) {
  console.log(`\n## ${f.replace(/\.bench\.js$/, '')}\n`);
  const mod = (await import(pathToFileURL(join(benchRoot, f)).href)) as { default: () => Promise<void> };
  await mod.default();
}
