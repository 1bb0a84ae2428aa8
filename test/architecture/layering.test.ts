// The layers of DESIGN §2a, kept by a test: every import in core/, plugins/ and examples/ is read
// and checked against the table below. A part is a folder of core (core/mesh), one file at
// core's top (core/project-root), one plugin folder (plugins/signer) or one example folder.
// Files import freely inside their own part; across parts only in the directions listed.
// docs/architecture.md says the same table in words: change both together.
import { expect } from 'chai';
import { projectRoot } from '../../core/project-root.js';
import { importsUnder, type ImportLine } from './imports.js';

/** Leaves everyone may use: they import nothing of the project. */
const NEUTRAL = ['core/keys', 'core/fleet', 'core/underlay', 'core/storage', 'core/log-sampler'];

/** What each part of core may import, besides its own files. */
const MAY_IMPORT: Record<string, readonly string[]> = {
  'core/keys': [],
  'core/fleet': [],
  'core/underlay': [],
  'core/storage': [],
  'core/log-sampler': [],
  'core/project-root': [],
  // The WireGuard implementation and the command protocol are leaves with a job.
  'core/wireguard': ['core/keys', 'core/underlay'],
  'core/protocol': ['core/keys', 'core/storage'],
  // The pipeline host knows no mesh, node or protocol, and is told where plugins are.
  'core/runtime': NEUTRAL,
  'core/catalog': [...NEUTRAL, 'core/runtime', 'core/project-root'],
  'core/contracts': [...NEUTRAL, 'core/protocol', 'core/catalog'],
  'core/mesh': [...NEUTRAL, 'core/wireguard'],
  'core/membership': [...NEUTRAL, 'core/mesh', 'core/runtime'],
  'core/registry': [...NEUTRAL, 'core/protocol', 'core/contracts'],
  'core/genesis': [...NEUTRAL, 'core/protocol', 'core/runtime', 'core/contracts', 'core/mesh', 'core/membership', 'core/registry'],
  'core/sdk': [...NEUTRAL, 'core/runtime', 'core/contracts', 'core/catalog', 'core/protocol', 'core/mesh', 'core/membership', 'core/registry'],
  // The node's composition root: it builds every service, so it sees every part below it.
  'core/node': [...NEUTRAL, 'core/protocol', 'core/wireguard', 'core/runtime', 'core/contracts', 'core/catalog', 'core/mesh', 'core/membership', 'core/registry', 'core/genesis', 'core/sdk', 'core/project-root'],
  // The command line is the top: it may use any part of core.
  'core/cli': [...NEUTRAL, 'core/project-root', 'core/protocol', 'core/wireguard', 'core/runtime', 'core/contracts', 'core/catalog', 'core/mesh', 'core/membership', 'core/registry', 'core/genesis', 'core/sdk', 'core/node'],
};

/** Plugins and examples are written as users' packages are: against the SDK only. */
const OUTSIDE_MAY_IMPORT = ['core/sdk'];

/**
 * Programs built from core, as the command line is: the local-mesh demo lays out instance
 * directories, keys and a registry and starts `ppn run` processes. They may use core below the
 * CLI, never a plugin (a program that needs a plugin's constant finds it in core/contracts).
 */
const PROGRAMS: Record<string, readonly string[]> = {
  'examples/local-mesh': [...NEUTRAL, 'core/project-root', 'core/contracts', 'core/mesh', 'core/membership', 'core/registry'],
};

function partOf(path: string): string {
  const [top, second] = path.split('/');
  return `${top}/${second.replace(/\.ts$/, '')}`;
}

const root = projectRoot();
const imports = importsUnder(root, ['core', 'plugins', 'examples']).filter((i) => partOf(i.file) !== partOf(i.target));
const show = (i: ImportLine) => `${i.file}:${i.line} imports '${i.specifier}' (${partOf(i.target)})`;
const from = (part: string) => imports.filter((i) => partOf(i.file) === part);

describe('layering (DESIGN §2a)', () => {
  it('finds the imports it checks (the reader works)', () => {
    expect(from('core/mesh').some((i) => i.target === 'core/wireguard/device.ts')).to.equal(true);
    expect(imports.filter((i) => i.file.startsWith('plugins/')).length).to.be.greaterThan(10);
  });

  it('every part of core is in the table', () => {
    const parts = new Set(imports.flatMap((i) => [partOf(i.file), partOf(i.target)]).filter((p) => p.startsWith('core/')));
    expect([...parts].filter((p) => !(p in MAY_IMPORT)), 'add new parts to MAY_IMPORT (and docs/architecture.md)').to.deep.equal([]);
  });

  it('the table has no cycle, so no two parts of core import each other, even by a detour', () => {
    const cycle = findCycle(MAY_IMPORT);
    expect(cycle, cycle && cycle.join(' → ')).to.equal(undefined);
  });

  for (const [part, allowed] of Object.entries(MAY_IMPORT)) {
    it(`${part} imports ${describeAllowed(allowed)}`, () => {
      expect(from(part).filter((i) => !allowed.includes(partOf(i.target))).map(show)).to.deep.equal([]);
    });
  }

  it('core never imports plugins or examples', () => {
    expect(imports.filter((i) => i.file.startsWith('core/') && !i.target.startsWith('core/')).map(show)).to.deep.equal([]);
  });

  for (const [program, allowed] of Object.entries(PROGRAMS)) {
    it(`${program} (a program, as the CLI) imports ${describeAllowed(allowed)}`, () => {
      expect(from(program).filter((i) => !allowed.includes(partOf(i.target))).map(show)).to.deep.equal([]);
    });
  }

  for (const outside of ['plugins', 'examples']) {
    it(`${outside} import only core/sdk (and their own folder's files), never each other`, () => {
      const bad = imports.filter((i) => i.file.startsWith(`${outside}/`) && !(partOf(i.file) in PROGRAMS) && !OUTSIDE_MAY_IMPORT.includes(partOf(i.target)));
      expect(bad.map(show)).to.deep.equal([]);
    });
  }
});

/** "nothing of the project", "core/keys, core/underlay", "the neutral leaves, core/wireguard". */
function describeAllowed(allowed: readonly string[]): string {
  if (allowed.length === 0) return 'nothing of the project';
  const neutral = NEUTRAL.every((n) => allowed.includes(n));
  const named = neutral ? allowed.filter((p) => !NEUTRAL.includes(p)) : allowed;
  return `only ${[...(neutral ? ['the neutral leaves'] : []), ...named].join(', ')}`;
}

/** A cycle in a graph given as adjacency lists, as the list of its nodes, or undefined. */
function findCycle(graph: Record<string, readonly string[]>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (node: string): string[] | undefined => {
    if (state.get(node) === 'done') return undefined;
    if (state.get(node) === 'open') return [...path.slice(path.indexOf(node)), node];
    state.set(node, 'open');
    path.push(node);
    for (const next of graph[node] ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(node, 'done');
    return undefined;
  };
  for (const node of Object.keys(graph)) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}
