// The local mesh (examples/local-mesh: four `ppn run` processes over userspace WireGuard) as the
// tests run it: each node on a copy of its shipped role file, which a test may edit first (and
// live, to reload that node), the admin's F8 on a free port; and, for the key tests, with the
// authority pinned on the nodes that take membership updates. Multi-process: run under the
// shared lock.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pinAuthority } from '../../core/genesis/authority-pin.js';
import { loadGenesisKey } from '../../core/genesis/signing-key.js';
import { formatKey, publicKeyOf } from '../../core/keys/index.js';
import { loadSecret } from '../../core/membership/instance-files.js';
import { projectRoot } from '../../core/project-root.js';
import { localFleet, prepareLocalMesh, type LocalNode } from '../../examples/local-mesh/fleet.js';
import { launchLocalMesh, type RunningMesh } from '../../examples/local-mesh/launch.js';
import { scratchDir } from './pipeline.js';

/** A role file as the edits see it: its stages by id. */
export interface RoleFile {
  stages: Record<string, { type: string; inputs?: string[]; config?: Record<string, unknown> }>;
  [key: string]: unknown;
}
export type PipelineEdit = (node: LocalNode, pipeline: RoleFile) => void;

export interface LocalMeshRun {
  mesh: RunningMesh;
  nodes: LocalNode[];
  root: string;
  /** The copy of its role file a node runs (edit it to reload that node). */
  pipelineOf(node: LocalNode): string;
}

/**
 * The local mesh in a scratch directory `name`: every node runs a copy of its shipped role file
 * (the admin's F8 on a free port), which `edit` may change first; `beforeLaunch` sees the
 * prepared instance directories before any process starts.
 */
export async function startLocalMesh(name: string, edit: PipelineEdit = () => {}, beforeLaunch: (nodes: LocalNode[]) => void = () => {}): Promise<LocalMeshRun> {
  const root = scratchDir(name);
  const nodes = localFleet(root, 40000 + Math.floor(Math.random() * 20000));
  prepareLocalMesh(nodes);
  beforeLaunch(nodes);
  const pipelineOf = (n: LocalNode) => join(root, `${n.name}.pipeline.json`);
  for (const n of nodes) {
    const pipeline = JSON.parse(readFileSync(join(projectRoot(), 'pipelines', `${n.role}.json`), 'utf8')) as RoleFile;
    delete pipeline.$schema;
    if (n.role === 'os-network-admin') pipeline.stages.f8.config = { ...pipeline.stages.f8.config, port: 0 };
    edit(n, pipeline);
    writeFileSync(pipelineOf(n), JSON.stringify(pipeline, null, 2));
  }
  return { mesh: await launchLocalMesh(nodes, { pipelineFor: pipelineOf }), nodes, root, pipelineOf };
}

/**
 * As the key tests need it: the nodes named by `pinned` (leased; the identity tests also the
 * hub) take the authority's membership updates, as nodes that joined by Genesis do (the
 * authority pinned), and the admin's membership sync runs quickly.
 */
export function startPinnedLocalMesh(name: string, edit: PipelineEdit = () => {}, pinned: readonly string[] = ['leased']): Promise<LocalMeshRun> {
  const quickSync: PipelineEdit = (n, pipeline) => {
    if (n.role === 'os-network-admin') pipeline.stages.genesis.config = { ...pipeline.stages.genesis.config, sync: { pollMs: 100, everyMs: 1000 } };
    edit(n, pipeline);
  };
  return startLocalMesh(name, quickSync, (nodes) => {
    const admin = nodes.find((n) => n.role === 'os-network-admin')!;
    for (const n of nodes.filter((x) => pinned.includes(x.name))) {
      pinAuthority(n.instanceDir, {
        genesisKey: loadGenesisKey(admin.instanceDir, true).publicText,
        commandPublicKey: formatKey(publicKeyOf(loadSecret(admin.instanceDir, 'command.key', false))),
        nodeId: admin.id,
        address: `10.8.0.${admin.id}`,
      });
    }
  });
}
