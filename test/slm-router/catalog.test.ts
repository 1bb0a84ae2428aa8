import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CatalogError, defaultCatalogPath, loadCatalog, STANDARD_OPCODES, type Catalog } from '../../core/catalog/index.js';

describe('slm-router catalog files', () => {
  let dir: string;
  const base = () => JSON.parse(readFileSync(defaultCatalogPath(), 'utf8')) as Catalog;
  const write = (name: string, content: unknown) => {
    const path = join(dir, name);
    writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
    return path;
  };
  const problemsOf = (path: string): string[] => {
    try {
      loadCatalog(path);
    } catch (err) {
      expect(err).to.be.instanceOf(CatalogError);
      return (err as CatalogError).problems;
    }
    throw new Error('the catalog was accepted');
  };

  before(() => (dir = mkdtempSync(join(tmpdir(), 'ppn-catalog-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('the default catalog is the opcode table of the spec, with the confirm flags', () => {
    const catalog = loadCatalog();
    expect(catalog.intents.map((i) => [i.opcode, i.name])).to.deep.equal([...STANDARD_OPCODES]);
    expect(catalog.intents.filter((i) => i.confirm).map((i) => i.name)).to.deep.equal(['rotate-keys', 'enter-maintenance', 'quarantine', 'reboot']);
    const args = (name: string) => catalog.intents.find((i) => i.name === name)!.argument?.values.map((v) => [v.value, v.name]);
    expect(args('restart-service')).to.deep.equal([[1, 'telemetry'], [2, 'sync'], [3, 'udp'], [4, 'slm'], [5, 'link']]);
    expect(args('set-log-level')).to.deep.equal([[0, 'error'], [1, 'warn'], [2, 'info'], [3, 'debug']]);
    for (const i of catalog.intents) expect(i.examples.length, i.name).to.be.at.least(10);
  });

  it('reports every schema problem at once, each with line:column and JSON pointer', () => {
    const c = base() as unknown as Record<string, any>;
    c.intents[0].opcode = 'one';
    delete c.intents[1].examples;
    c.intents[2].colour = 'red';
    const problems = problemsOf(write('schema.json', c));
    expect(problems).to.have.length(3);
    expect(problems.join('\n')).to.match(/^\d+:\d+ \/intents\/0\/opcode: must be integer$/m);
    expect(problems.join('\n')).to.match(/^\d+:\d+ \/intents\/1: missing required property 'examples'$/m);
    expect(problems.join('\n')).to.match(/^\d+:\d+ \/intents\/2\/colour: unknown property 'colour'$/m);
  });

  it('rejects the reserved opcodes 0x00 and 0xFF and the unassigned 0x0C..0x7F', () => {
    const c = base();
    c.intents.push({ ...c.intents[0], name: 'zero', opcode: 0x00 }, { ...c.intents[0], name: 'ff', opcode: 0xff }, { ...c.intents[0], name: 'twelve', opcode: 0x0c });
    const problems = problemsOf(write('reserved.json', c)).join('\n');
    expect(problems).to.include('opcode 0x00 is reserved');
    expect(problems).to.include('opcode 0xFF is reserved');
    expect(problems).to.include('opcode 0x0C is reserved; site-specific intents use 0x80..0xFE');
  });

  it('rejects duplicate names and opcodes, and a standard opcode under another name', () => {
    const c = base();
    c.intents.push({ ...c.intents[0], opcode: 0x80 }, { ...c.intents[1], name: 'status-now', opcode: 0x81 }, { ...c.intents[2], name: 'flush', opcode: 0x81 });
    c.intents[3] = { ...c.intents[3], name: 'reload-everything' };
    const problems = problemsOf(write('duplicates.json', c)).join('\n');
    expect(problems).to.match(/\/intents\/11\/name: duplicate intent name 'ping' \(also \/intents\/0\)/);
    expect(problems).to.match(/\/intents\/13\/opcode: duplicate opcode 0x81 \(also \/intents\/12\)/);
    expect(problems).to.include("opcode 0x04 is 'reload-pipeline' in the default catalog, not 'reload-everything'");
  });

  it('rejects duplicate argument values and {arg} in an intent without argument', () => {
    const c = base();
    const restart = c.intents.find((i) => i.name === 'restart-service')!;
    restart.argument!.values[1] = { ...restart.argument!.values[1], value: 1 };
    c.intents[0].examples.push('ping {arg} on {target}');
    const problems = problemsOf(write('args.json', c)).join('\n');
    expect(problems).to.include('duplicate argument value 1');
    expect(problems).to.include('/intents/0/examples: examples use {arg} but the intent has no argument');
  });

  it('accepts a site-specific intent in 0x80..0xFE', () => {
    const c = base();
    c.intents.push({ name: 'flush-dns', opcode: 0x80, description: 'Flush the DNS cache', confirm: false, keywords: ['flush dns'], examples: ['flush dns on {target}'] });
    expect(loadCatalog(write('site.json', c)).intents.at(-1)!.opcode).to.equal(0x80);
  });

  it('reports invalid JSON with its position, and a missing file by its error code', () => {
    expect(problemsOf(write('broken.json', '{\n  "version": 1,\n  "intents": [\n}\n'))[0]).to.match(/^4:1 invalid JSON/);
    expect(problemsOf(join(dir, 'absent.json'))).to.deep.equal(['cannot read: ENOENT']);
  });
});
