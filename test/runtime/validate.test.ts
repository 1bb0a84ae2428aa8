import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { nodePluginFolders, nodeServices } from '../../core/node/services.js';
import { projectRoot } from '../../core/project-root.js';
import { createPluginLoader } from '../../core/runtime/plugins.js';
import { validatePipelineText } from '../../core/runtime/validate.js';

const deps = () => ({ loader: createPluginLoader(nodePluginFolders()), services: nodeServices() });
const cli = join(projectRoot(), 'dist/core/cli/main.js');
const run = promisify(execFile);

// Line numbers below are those of this text; keep them in step when editing it.
const faulty = `{
  "role": "edge",
  "node": { "name": "n1", "colour": "red" },
  "stages": {
    "in": { "type": "udp-source", "config": { "port": 70000 } },
    "mid": { "type": "tag", "inputs": ["in", "ghost"] },
    "odd": { "type": "does-not-exist", "inputs": ["mid"] },
    "lonely": { "type": "log-sink" },
    "x": { "type": "tag", "inputs": ["y"] },
    "y": { "type": "tag", "inputs": ["x"] }
  }
}`;

describe('pipeline validation', () => {
  it('reports every fault of a file at once, each with line:column, pointer and stage id', async () => {
    const result = await validatePipelineText('/f.json', faulty, deps());
    expect(result.ok).to.equal(false);
    if (result.ok) return;
    const found = result.errors.map((e) => `${e.line}:${e.column} ${e.pointer} ${e.stageId ?? '-'}`);
    expect(found).to.have.members([
      '3:27 /node/colour -',
      '5:47 /stages/in/config/port in',
      '6:46 /stages/mid/inputs/1 mid',
      '7:14 /stages/odd/type odd',
      '8:5 /stages/lonely lonely',
      '9:27 /stages/x/inputs x',
    ]);
    const messages = result.errors.map((e) => e.message).join('\n');
    expect(messages).to.contain("unknown property 'colour'");
    expect(messages).to.contain('must be <= 65535');
    expect(messages).to.contain("unknown input 'ghost'");
    expect(messages).to.contain("unknown stage type 'does-not-exist'");
    expect(messages).to.contain('needs at least one input');
    expect(messages).to.contain('cycle: x -> y -> x');
  });

  it('points at the place of a JSON syntax error', async () => {
    const result = await validatePipelineText('/f.json', '{\n  "role": "a",\n  "node": {,\n}', deps());
    expect(result.ok).to.equal(false);
    if (result.ok) return;
    expect(result.errors[0]).to.include({ line: 3, column: 12 });
    expect(result.errors[0].message).to.match(/invalid JSON/);
  });

  it('rejects a source given inputs and a service the host does not provide', async () => {
    const text = JSON.stringify({
      role: 'r',
      node: { name: 'n' },
      services: { teleporter: {} },
      stages: { a: { type: 'generate' }, b: { type: 'generate', inputs: ['a'] } },
    });
    const result = await validatePipelineText('/f.json', text, deps());
    if (result.ok) throw new Error('expected errors');
    expect(result.errors.map((e) => e.message)).to.include.members([
      `unknown service 'teleporter' (known: ${nodeServices().map((s) => s.name).join(', ')})`,
      "'generate' is a source and takes no inputs",
    ]);
  });

  it('fills in defaults of stage configs', async () => {
    const text = JSON.stringify({ role: 'r', node: { name: 'n' }, stages: { a: { type: 'generate' } } });
    const result = await validatePipelineText('/f.json', text, deps());
    if (!result.ok) throw new Error('expected a valid file');
    expect(result.valid.pipeline.stages.a).to.deep.equal({ type: 'generate', inputs: [], config: { perSecond: 100, count: 0, kind: 'generated' } });
  });

  it('`ppn validate` exits 0 for valid files and 2 with every problem on stderr', async () => {
    const good = join(projectRoot(), 'examples/custom-role/udp-relay-logger.json');
    const ok = await run('node', [cli, 'validate', good]);
    expect(ok.stdout).to.contain('valid (5 stages)');
    const err = await run('node', [cli, 'validate', good, '/nonexistent/p.json']).catch((e) => e);
    expect(err.code).to.equal(2);
    expect(err.stderr).to.contain('/nonexistent/p.json:1:1: /: file not found');
  });

  it('`ppn schema` prints the combined schema with each built-in stage type', async () => {
    const { stdout } = await run('node', [cli, 'schema']);
    const schema = JSON.parse(stdout);
    const stage = schema.properties.stages.additionalProperties;
    expect(stage.properties.type.enum).to.include.members(['udp-source', 'tag', 'filter', 'log-sink', 'generate', 'udp-sink']);
    const udp = stage.allOf.find((c: any) => c.if.properties.type.const === 'udp-source');
    expect(udp.then.properties.config.required).to.deep.equal(['port']);
  });
});
