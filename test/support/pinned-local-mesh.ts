// The local mesh (examples/local-mesh: four `ppn run` processes over userspace WireGuard) as the
// key tests need it: leased takes membership updates as a node that joined by Genesis does (the
// authority pinned), the admin's F8 listens on a free port and its membership sync runs quickly.
// Each node runs a copy of its shipped role file, which `edit` may change first. Multi-process:
// run under the shared lock.
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

export interface PinnedLocalMesh {
  mesh: RunningMesh;
  nodes: LocalNode[];
  root: string;
}

/** `pinned`: the nodes that take the authority's membership updates (leased; the identity tests also the hub). */
export async function startPinnedLocalMesh(name: string, edit: PipelineEdit = () => {}, pinned: readonly string[] = ['leased']): Promise<PinnedLocalMesh> {
  const root = scratchDir(name);
  const nodes = localFleet(root, 40000 + Math.floor(Math.random() * 20000));
  prepareLocalMesh(nodes);
  const admin = nodes.find((n) => n.role === 'os-network-admin')!;
  for (const n of nodes.filter((x) => pinned.includes(x.name))) {
    pinAuthority(n.instanceDir, {
      genesisKey: loadGenesisKey(admin.instanceDir, true).publicText,
      commandPublicKey: formatKey(publicKeyOf(loadSecret(admin.instanceDir, 'command.key', false))),
      nodeId: admin.id,
      address: `10.8.0.${admin.id}`,
    });
  }
  const copy = (n: LocalNode) => join(root, `${n.name}.pipeline.json`);
  for (const n of nodes) {
    const pipeline = JSON.parse(readFileSync(join(projectRoot(), 'pipelines', `${n.role}.json`), 'utf8')) as RoleFile;
    delete pipeline.$schema;
    if (n.role === 'os-network-admin') {
      pipeline.stages.f8.config = { ...pipeline.stages.f8.config, port: 0 };
      pipeline.stages.genesis.config = { ...pipeline.stages.genesis.config, sync: { pollMs: 100, everyMs: 1000 } };
    }
    edit(n, pipeline);
    writeFileSync(copy(n), JSON.stringify(pipeline, null, 2));
  }
  return { mesh: await launchLocalMesh(nodes, { pipelineFor: copy }), nodes, root };
}
