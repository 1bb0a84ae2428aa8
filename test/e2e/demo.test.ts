// The README's first command: `npm run demo -- --once` (here the built script it runs).
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../../core/project-root.js';
import { scratchDir } from '../support/pipeline.js';

describe('npm run demo -- --once', function () {
  this.timeout(90_000);

  it('starts the four nodes, sends the intent, prints each hop and exits 0 after the ack', async () => {
    const root = scratchDir('demo');
    const { stdout } = await promisify(execFile)(process.execPath, [join(projectRoot(), 'dist/examples/local-mesh/demo.js'), '--once', '--root', root, '--base-port', String(20000 + Math.floor(Math.random() * 20000))]);
    expect(stdout).to.contain('intent restart-service (opcode 0x03), argument telemetry (1), target leased (selector 0x0003)');
    expect(stdout).to.match(/Signed: command c0-\d+, counter \d+/);
    expect(stdout).to.match(/leased 10\.8\.0\.3:8090 {2}packet [0-9a-f]{32}/);
    expect(stdout).to.contain('leased: executed counter');
    expect(stdout).to.contain('admin: ack from node 3: executed');
    expect(stdout).to.contain('leased: executed — restarted telemetry (stage telemetry)');
  });
});
