#!/usr/bin/env node
// The `ppn` command. Each group of subcommands lives in its own module and registers itself here.
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { exitFor } from './cli-errors.js';

type CommandModule = { register(program: Command): void };

// Each module is loaded only when one of its commands is asked for, so a command starts without
// loading the rest (and a fault in one module cannot break the others). Help loads them all.
const keys = () => import('./keys.js');
const packet = () => import('./packet.js');
const pipeline = () => import('./pipeline.js');
const route = () => import('./route.js');
const wg = () => import('./wg.js');
const genesis = () => import('./genesis.js');
const nodes = () => import('./nodes.js');
const send = () => import('./send.js');
const moduleOf: Record<string, () => Promise<CommandModule>> = {
  keys,
  packet,
  run: pipeline,
  validate: pipeline,
  schema: pipeline,
  status: pipeline,
  reload: pipeline,
  route,
  wg,
  'wg-config': wg,
  authority: genesis,
  provision: genesis,
  join: genesis,
  claim: genesis,
  nodes,
  send,
  commands: send,
  audit: send,
};

const program = new Command('ppn')
  .description('Sovereign Mesh: run a node of the mesh, and the tools around it')
  .version(packageVersion(), '-V, --version', "print ppn's version")
  .showHelpAfterError()
  .exitOverride();

const asked = process.argv[2] ?? '';
// A reader that went away (`ppn nodes list | head -1`) ends a command quietly, as SIGPIPE ends a
// C tool. Not `ppn run`: a node outlives its log reader (core/runtime/log-stream.ts counts it).
if (!['run'].includes(asked)) {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(0);
  });
}
const loaders = Object.hasOwn(moduleOf, asked) ? [moduleOf[asked]] : [...new Set(Object.values(moduleOf))];
for (const m of await Promise.all(loaders.map((load) => load()))) m.register(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  const { code, lines } = exitFor(err);
  for (const line of lines) console.error(line);
  process.exitCode = code;
}

/** The version in package.json, two folders up from dist/core/cli (or core/cli). */
function packageVersion(): string {
  for (const up of ['../../../package.json', '../../package.json']) {
    try {
      return (JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { version: string }).version;
    } catch {
      // not this layout
    }
  }
  return 'unknown';
}
