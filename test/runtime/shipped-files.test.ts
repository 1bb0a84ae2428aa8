// The pipeline files and schema this checkout ships are valid and current.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { nodePluginFolders, nodeServices } from '../../core/node/services.js';
import { projectRoot } from '../../core/project-root.js';
import { createPluginLoader } from '../../core/runtime/plugins.js';
import { formatValidationError, validatePipelineFile } from '../../core/runtime/validate.js';
import { nodeGraphRules } from '../../core/node/graph-rules.js';

const root = projectRoot();
const shipped = [
  ...readdirSync(join(root, 'pipelines')).map((f) => join(root, 'pipelines', f)),
  join(root, 'examples/custom-role/udp-relay-logger.json'),
  join(root, 'examples/custom-router/os-network-admin.json'),
  join(root, 'examples/sync-sideways/os-infrastructure-sync.json'),
].filter((f) => f.endsWith('.json'));

describe('shipped pipeline files', () => {
  for (const file of shipped) {
    it(`${file.slice(root.length + 1)} is valid`, async () => {
      const result = await validatePipelineFile(file, { loader: createPluginLoader(nodePluginFolders()), services: nodeServices(), graphRules: nodeGraphRules() });
      expect(result.ok ? [] : result.errors.map(formatValidationError)).to.deep.equal([]);
    });
  }

  it('the three roles of the design are there', () => {
    const roles = shipped.map((f) => JSON.parse(readFileSync(f, 'utf8')).role);
    expect(roles).to.include.members(['cloud-relay', 'os-infrastructure', 'os-network-admin']);
  });

  it('schemas/pipeline.schema.json is what `ppn schema` prints (regenerate it after changing a stage type)', async () => {
    const { stdout } = await promisify(execFile)('node', [join(root, 'dist/core/cli/main.js'), 'schema']);
    expect(JSON.parse(readFileSync(join(root, 'schemas/pipeline.schema.json'), 'utf8'))).to.deep.equal(JSON.parse(stdout));
  });
});
