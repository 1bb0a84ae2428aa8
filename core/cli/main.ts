#!/usr/bin/env node
// The `ppn` command. Each group of subcommands lives in its own module and registers itself here.
import { Command, CommanderError } from 'commander';
import { UsageError } from './usage-error.js';
import * as pipelineCommands from './pipeline.js';
import * as keysCommands from './keys.js';
import * as packetCommands from './packet.js';
import * as routeCommands from './route.js';
import * as wgCommands from './wg.js';
import * as genesisCommands from './genesis.js';
import * as nodesCommands from './nodes.js';

const program = new Command('ppn')
  .description('Sovereign Mesh: run a node of the mesh, and the tools around it')
  .showHelpAfterError()
  .exitOverride();

const modules: Array<{ register(program: Command): void }> = [
  keysCommands,
  packetCommands,
  pipelineCommands,
  routeCommands,
  wgCommands,
  genesisCommands,
  nodesCommands,
];
for (const m of modules) m.register(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Help and version are not errors; every other usage mistake exits 2.
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else if (err instanceof UsageError) {
    console.error(`ppn: ${err.message}`);
    process.exitCode = 2;
  } else {
    console.error(`ppn: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  }
}
