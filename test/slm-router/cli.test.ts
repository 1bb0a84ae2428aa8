import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../../core/project-root.js';

const main = join(projectRoot(), 'dist', 'core', 'cli', 'main.js');
function ppn(...args: string[]) {
  const r = spawnSync(process.execPath, [main, 'route', ...args], { encoding: 'utf8', env: { ...process.env, OLLAMA_HOST: '' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('ppn route', () => {
  it('prints a draft as one JSON object and exits 0', () => {
    const r = ppn('restart telemetry on leased');
    expect(r.code).to.equal(0);
    expect(JSON.parse(r.out)).to.deep.include({
      intent: 'restart-service', opcode: 3, arg: 1, argName: 'telemetry', target: 'leased', selector: 3, confirm: false, suggestions: [], reason: null,
    });
  });

  it('takes the request unquoted too', () => {
    expect(JSON.parse(ppn('reboot', 'the', 'edge', 'group').out)).to.deep.include({ intent: 'reboot', target: 'edge', selector: 0x0101, confirm: true });
  });

  it('prints an abstention with null fields, reason and suggestions, and exits 3', () => {
    const r = ppn('reboot the relay');
    expect(r.code).to.equal(3);
    const out = JSON.parse(r.out);
    expect(out).to.deep.include({ intent: null, opcode: null, target: null, selector: null, reason: 'target-takes-no-commands' });
    expect(out.suggestions).to.include('reboot leased');
  });

  it('exits 2 on bad usage: no text, unknown backend, invalid catalog', () => {
    expect(ppn().code).to.equal(2);
    expect(ppn('--router', 'oracle', 'ping leased').code).to.equal(2);
    const dir = mkdtempSync(join(tmpdir(), 'ppn-route-'));
    try {
      const bad = join(dir, 'bad.json');
      writeFileSync(bad, '{"version": 1, "intents": []}');
      const r = ppn('--catalog', bad, 'ping leased');
      expect(r.code).to.equal(2);
      expect(r.err).to.include('invalid catalog').and.include("missing required property 'targetWords'");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('documents its output and exit codes in its help', () => {
    const r = spawnSync(process.execPath, [main, 'route', '--help'], { encoding: 'utf8' });
    expect(r.stdout).to.include('Exit status: 0 a draft, 3 an abstention').and.include('2 bad usage');
  });
});
