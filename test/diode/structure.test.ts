// The Diode Standard as structure: role graphs that would let a command round the diode, let a
// node send on the command port, or let the authority accept on it are refused — by `ppn validate`,
// at start-up and on reload (the running graph stays as it was) — each with file:line, pointer and
// stage id.
import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nodeGraphRules } from '../../core/node/graph-rules.js';
import { nodePluginFolders, nodeServices } from '../../core/node/services.js';
import { projectRoot } from '../../core/project-root.js';
import { createPluginLoader } from '../../core/runtime/plugins.js';
import { PipelineInvalidError } from '../../core/runtime/host.js';
import { formatValidationError, validatePipelineText, type ValidationError } from '../../core/runtime/validate.js';
import { ppn } from '../cli/support.js';
import { scratchDir, startTestHost, writePipeline } from '../support/pipeline.js';

const deps = () => ({ loader: createPluginLoader(nodePluginFolders()), services: nodeServices(), graphRules: nodeGraphRules() });
const shipped = (role: string) => JSON.parse(readFileSync(join(projectRoot(), 'pipelines', `${role}.json`), 'utf8'));

async function problems(pipeline: object): Promise<ValidationError[]> {
  const result = await validatePipelineText('/role.json', JSON.stringify(pipeline, null, 2), deps());
  return result.ok ? [] : result.errors;
}
const where = (errors: ValidationError[]) => errors.map((e) => `${e.pointer} ${e.stageId}`);

describe('diode: the role graph', () => {
  it('the shipped node and authority roles pass', async () => {
    expect(await problems(shipped('os-infrastructure'))).to.deep.equal([]);
    expect(await problems(shipped('os-network-admin'))).to.deep.equal([]);
  });

  it('refuses a node whose diode was removed (ingress wired to the verifier)', async () => {
    const role = shipped('os-infrastructure');
    delete role.stages.link;
    role.stages.verifier.inputs = ['ingress'];
    const errors = await problems(role);
    expect(where(errors)).to.deep.equal(['/stages/executor/inputs executor']);
    expect(errors[0].message).to.contain('without passing the diode').and.contain('ingress -> verifier -> executor');
  });

  it('refuses an executor fed straight from udp-ingress beside the diode', async () => {
    const role = shipped('os-infrastructure');
    role.stages.executor.inputs = ['verifier', 'ingress'];
    expect(where(await problems(role))).to.deep.equal(['/stages/executor/inputs executor']);
  });

  it('refuses an executor fed from any other source (not only the command port)', async () => {
    const role = shipped('os-infrastructure');
    role.stages.side = { type: 'udp-ingress', config: { port: 9000 } };
    role.stages.verifier.inputs = ['link', 'side'];
    const errors = await problems(role);
    expect(errors[0].message).to.contain('side -> verifier -> executor');
  });

  it('refuses a diode set to the wrong side (a broken diode passes nothing, and says so)', async () => {
    const role = shipped('os-infrastructure');
    role.stages.link.config = { side: 'authority' };
    const errors = await problems(role);
    expect(where(errors)).to.have.members(['/stages/link/config/side link', '/stages/executor/inputs executor']);
  });

  it('refuses a node that could send to the command port: udp-egress, or a udp-sink to 8090', async () => {
    const role = shipped('os-infrastructure');
    role.stages.relay = { type: 'udp-egress', inputs: ['executor'] };
    role.stages.leak = { type: 'udp-sink', inputs: ['executor'], config: { host: '10.42.0.11', port: 8090 } };
    const errors = await problems(role);
    expect(where(errors)).to.have.members(['/stages/relay/type relay', '/stages/leak/config/port leak']);
  });

  it('refuses an authority that accepts on its command port', async () => {
    const role = shipped('os-network-admin');
    role.stages.back = { type: 'udp-ingress', config: { port: 8090 } };
    role.stages['back-log'] = { type: 'log-sink', inputs: ['back'] };
    expect(where(await problems(role))).to.deep.equal(['/stages/back/config/port back']);
  });

  it('refuses an executor on the authority (it takes no commands; nothing could reach it through the diode)', async () => {
    const role = shipped('os-network-admin');
    role.stages.side = { type: 'udp-ingress', config: { port: 9000 } };
    role.stages.run = { type: 'executor', inputs: ['side'] };
    expect(where(await problems(role))).to.deep.equal(['/stages/run/type run']);
  });

  it('refuses an authority whose signer feeds the sender without the diode', async () => {
    const role = shipped('os-network-admin');
    delete role.stages.link;
    role.stages.egress.inputs = ['signer'];
    const errors = await problems(role);
    expect(where(errors)).to.deep.equal(['/stages/egress/inputs egress']);
    expect(errors[0].message).to.contain('f8 -> router -> signer -> egress');
  });

  it('the error is located: file:line:column, pointer, stage id', async () => {
    const role = shipped('os-infrastructure');
    role.stages.executor.inputs = ['ingress'];
    const text = JSON.stringify(role, null, 2);
    const result = await validatePipelineText('/role.json', text, deps());
    expect(result.ok).to.equal(false);
    if (result.ok) return;
    const lines = text.split('\n');
    const executorAt = lines.findIndex((l) => l.includes('"executor": {'));
    const inputsLine = lines.findIndex((l, i) => i > executorAt && l.includes('"inputs"')) + 1;
    expect(result.errors[0].line).to.equal(inputsLine);
    expect(formatValidationError(result.errors[0])).to.match(/^\/role\.json:\d+:\d+: \/stages\/executor\/inputs: an executor is reached without passing the diode .* \(stage executor\)$/);
  });

  it('`ppn validate` refuses it (exit 2, located)', async () => {
    const dir = scratchDir('diode-validate');
    const role = shipped('os-infrastructure');
    role.stages.executor.inputs = ['ingress'];
    const file = writePipeline(dir, role);
    const run = await ppn(['validate', file]);
    expect(run.code).to.equal(2);
    expect(run.stderr).to.match(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: /stages/executor/inputs: .*diode.*\\(stage executor\\)`));
  });
});

describe('diode: start-up and reload', () => {
  // A graph without the mesh, so the test needs no instance keys: a plain UDP source and a log.
  const harmless = { role: 'diode-test', stages: { inbound: { type: 'udp-source', config: { port: 0 } }, log: { type: 'log-sink', inputs: ['inbound'] } } };
  const bypass = { role: 'diode-test', stages: { inbound: { type: 'udp-source', config: { port: 0 } }, run: { type: 'executor', inputs: ['inbound'] } } };

  it('start-up refuses a graph with an executor not behind the diode; nothing starts', async () => {
    const file = writePipeline(scratchDir('diode-start'), bypass);
    const err = await startTestHost(file).then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(PipelineInvalidError);
    expect((err as PipelineInvalidError).errors.map((e) => e.pointer)).to.deep.equal(['/stages/run/inputs']);
  });

  it('a reload to such a graph is refused and the running graph stays', async () => {
    const dir = scratchDir('diode-reload');
    const file = writePipeline(dir, harmless);
    const host = await startTestHost(file);
    try {
      writeFileSync(file, JSON.stringify(bypass, null, 2));
      const result = await host.reload();
      expect(result.ok).to.equal(false);
      expect(result.errors.join('\n')).to.match(/\/stages\/run\/inputs: an executor is reached without passing the diode .*\(stage run\)/);
      expect(Object.keys(host.status().stages)).to.deep.equal(['inbound', 'log']);
      expect(host.status().reloads.lastError).to.contain('diode');
    } finally {
      await host.stop(Date.now() + 5_000);
    }
  });
});
