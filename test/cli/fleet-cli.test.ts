// `ppn send`, `ppn commands`, `ppn audit`, `ppn route --instance`, `ppn status` and /metrics
// against the running local mesh: three of its four nodes (leased is never started, so the
// admin's session with it never comes up and its commands go unanswered). Run under the lock:
// flock /tmp/ppn-root-tests.lock node dist/test/run.js test/cli/fleet
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { localFleet, prepareLocalMesh, type LocalNode } from '../../examples/local-mesh/fleet.js';
import { launchLocalMesh, type RunningMesh } from '../../examples/local-mesh/launch.js';
import { loadMembership } from '../../core/membership/membership.js';
import { CONTROL_FILE } from '../../core/runtime/control-server.js';
import { projectRoot } from '../../core/project-root.js';
import { scratchDir } from '../support/pipeline.js';
import { CLI, parseMetrics, ppn, seriesValue } from './support.js';

describe('ppn send, commands, audit, route and status against the local mesh (leased not started)', function () {
  this.timeout(120_000);
  let mesh: RunningMesh;
  let nodes: LocalNode[];
  let adminDir: string;
  const asAdmin = ['--instance', ''];

  before(async () => {
    const root = scratchDir('cli-fleet');
    nodes = localFleet(root, 40000 + Math.floor(Math.random() * 20000));
    prepareLocalMesh(nodes);
    const pipelineCopy = (n: LocalNode) => join(root, `${n.name}.pipeline.json`);
    for (const n of nodes) {
      const pipeline = JSON.parse(readFileSync(join(projectRoot(), 'pipelines', `${n.role}.json`), 'utf8'));
      delete pipeline.$schema;
      if (n.role === 'os-network-admin') {
        pipeline.stages.f8.config.port = 0;
        pipeline.stages.signer.config = { ...pipeline.stages.signer.config, ackTimeoutMs: 4000 };
      }
      writeFileSync(pipelineCopy(n), JSON.stringify(pipeline, null, 2));
    }
    mesh = await launchLocalMesh(nodes.filter((n) => n.name !== 'leased'), { pipelineFor: pipelineCopy });
    adminDir = nodes.find((n) => n.role === 'os-network-admin')!.instanceDir;
    asAdmin[1] = adminDir;
    // onprem is reached through the hub's relay: wait for the admin's session with it to be up.
    const onpremKey = loadMembership(adminDir).peers.find((p) => p.name === 'onprem')!.publicKey;
    await mesh.nodes.get('admin')!.waitForLog((r) => r.msg === 'handshake completed' && r.peer === onpremKey, 30_000);
  });
  after(async () => mesh && (await mesh.stop()));

  const adminMetrics = async () => {
    const control = JSON.parse(readFileSync(join(adminDir, CONTROL_FILE), 'utf8'));
    const res = await fetch(`${control.url}/metrics`, { headers: { authorization: `Bearer ${control.token}` } });
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.match(/^text\/plain; version=0\.0\.4/);
    return parseMetrics(await res.text());
  };

  it('sends "ping onprem": shows the draft with the target by name and address, follows the ack, exits 0; the metrics move', async () => {
    const before = await adminMetrics();
    const run = await ppn(['send', 'ping', 'onprem', ...asAdmin]);
    expect(run.stderr).to.equal('');
    expect(run.code, run.stdout).to.equal(0);
    expect(run.stdout).to.match(/^draft: ping → onprem confidence \d\.\d\d$/m);
    expect(run.stdout).to.match(/^ {2}onprem 10\.8\.0\.\d+$/m);
    expect(run.stdout).to.match(/^ {2}onprem +10\.8\.0\.\d+ +executed/m);
    expect(run.stdout).to.match(/: 1 executed, 0 failed, 0 no answer of 1$/m);
    const after = await adminMetrics();
    const executed = { intent: 'ping', outcome: 'executed' };
    expect(seriesValue(after, 'ppn_command_targets_total', executed)).to.equal(seriesValue(before, 'ppn_command_targets_total', executed) + 1);
    expect(seriesValue(after, 'ppn_commands_total', { intent: 'ping' })).to.equal(seriesValue(before, 'ppn_commands_total', { intent: 'ping' }) + 1);
    expect(after.get('ppn_command_ack_seconds')!.type).to.equal('HISTOGRAM');
    expect(seriesValue(after, 'ppn_command_ack_seconds_count', { intent: 'ping' })).to.equal(seriesValue(before, 'ppn_command_ack_seconds_count', { intent: 'ping' }) + 1);
    expect(seriesValue(after, 'ppn_command_ack_seconds_bucket', { intent: 'ping', le: '+Inf' })).to.equal(seriesValue(after, 'ppn_command_ack_seconds_count', { intent: 'ping' }));
    const signed = { type: 'signer', event: 'signed' };
    expect(seriesValue(after, 'ppn_stage_events_total', signed)).to.equal(seriesValue(before, 'ppn_stage_events_total', signed) + 1);
    expect(seriesValue(after, 'ppn_wireguard_peers', { state: 'up' })).to.be.at.least(1);
  });

  it('prints one JSON object with --json', async () => {
    const run = await ppn(['send', 'ping onprem', '--json', ...asAdmin]);
    expect(run.code).to.equal(0);
    const out = JSON.parse(run.stdout);
    expect(out).to.include({ text: 'ping onprem', exitCode: 0 });
    expect(out.summary).to.deep.equal({ sent: 0, executed: 1, failed: 0, noAnswer: 0 });
    expect(out.targets[0]).to.include({ name: 'onprem', status: 'executed' });
  });

  it('refuses a confirm-flagged intent without --yes when there is no terminal to ask on (exit 7, nothing sent)', async () => {
    const before = JSON.parse((await ppn(['commands', '--json', '--limit', '1', ...asAdmin])).stdout);
    const run = await ppn(['send', 'reboot onprem', ...asAdmin]);
    expect(run.code).to.equal(7);
    expect(run.stdout).to.match(/\[needs confirmation\]/);
    expect(run.stdout).to.match(/not sent: it needs confirmation: run with --yes/);
    const after = JSON.parse((await ppn(['commands', '--json', '--limit', '1', ...asAdmin])).stdout);
    expect(after[0]?.id).to.equal(before[0]?.id);
  });

  it('asks on a terminal before a confirm-flagged intent: "n" declines (exit 7), "y" sends it', async function () {
    if (!existsSync('/usr/bin/script')) return this.skip();
    // util-linux's script(1) gives the command a terminal; the answer is typed once the question shows.
    const onTerminal = (answer: string) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const command = [process.execPath, CLI, 'send', "'reboot onprem'", ...asAdmin].join(' ');
        const child = spawn('/usr/bin/script', ['-qec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
        let out = '';
        child.stdout.on('data', (d) => {
          out += d;
          if (out.includes('[y/N]') && !child.stdin.writableEnded) child.stdin.end(`${answer}\n`);
        });
        child.once('exit', (code) => resolve({ code, out }));
      });
    const declined = await onTerminal('n');
    expect(declined.code, declined.out).to.equal(7);
    expect(declined.out).to.match(/reboot is flagged confirm: send it to 1 node\(s\)\? \[y\/N\]/);
    expect(declined.out).to.include('not sent: declined');
    const agreed = await onTerminal('y');
    expect(agreed.out).to.match(/onprem +10\.8\.0\.\d+ +failed/);
    expect(agreed.code, agreed.out).to.equal(4);
  });

  it('exits 4 when a target fails (reboot --yes: onprem has no reboot handler)', async () => {
    const run = await ppn(['send', 'reboot onprem', '--yes', ...asAdmin]);
    expect(run.code, run.stdout).to.equal(4);
    expect(run.stdout).to.match(/onprem +10\.8\.0\.\d+ +failed: no handler configured for reboot/);
  });

  it('exits 5 when a target does not answer by the deadline (leased is down)', async () => {
    const run = await ppn(['send', 'ping leased', ...asAdmin]);
    expect(run.code, run.stdout).to.equal(5);
    expect(run.stdout).to.match(/leased +10\.8\.0\.\d+ +no-answer/);
    expect(run.stdout).to.match(/0 executed, 0 failed, 1 no answer of 1$/m);
    const metrics = await adminMetrics();
    expect(seriesValue(metrics, 'ppn_command_targets_total', { intent: 'ping', outcome: 'no-answer' })).to.be.at.least(1);
  });

  it('exits 3 when the router abstains, with its reason', async () => {
    const run = await ppn(['send', 'what is the weather like tomorrow', ...asAdmin]);
    expect(run.code).to.equal(3);
    expect(run.stdout).to.match(/^not sent: the router abstained/m);
  });

  it('exits 6 when F8 refuses the token', async () => {
    const run = await ppn(['send', 'ping onprem', ...asAdmin], { PPN_F8_TOKEN: 'not-the-token' });
    expect(run.code).to.equal(6);
    expect(run.stderr).to.match(/refused the token \(401\)/);
    expect(run.stderr).to.not.include('not-the-token');
  });

  it('exits 2 when no admin is named', async () => {
    const run = await ppn(['send', 'ping onprem'], { PPN_F8_URL: '', PPN_F8_TOKEN: '' });
    expect(run.code).to.equal(2);
    expect(run.stderr).to.match(/--instance ADMIN_DIR/);
  });

  it('lists commands, shows one, and reads the audit log', async () => {
    const list = await ppn(['commands', '--limit', '3', ...asAdmin]);
    expect(list.code).to.equal(0);
    const lines = list.stdout.trim().split('\n');
    expect(lines).to.have.length(3);
    const id = lines[0].split(' ')[0];
    const show = await ppn(['commands', 'show', id, ...asAdmin]);
    expect(show.code).to.equal(0);
    expect(show.stdout).to.match(/^ {2}leased +10\.8\.0\.\d+ +no-answer/m);
    expect((await ppn(['commands', 'show', 'nope-1', ...asAdmin])).code).to.equal(2);
    expect((await ppn(['commands', '--limit', '0', ...asAdmin])).code).to.equal(2);
    const audit = await ppn(['audit', '--limit', '5', '--json', ...asAdmin]);
    expect(audit.code).to.equal(0);
    const entries = JSON.parse(audit.stdout) as { action: string }[];
    expect(entries.map((e) => e.action)).to.include('command');
  });

  it('routes against the real fleet through F8 (ppn route --instance)', async () => {
    const run = await ppn(['route', 'ping the edge nodes', ...asAdmin]);
    expect(run.code).to.equal(0);
    const out = JSON.parse(run.stdout);
    expect(out.intent).to.equal('ping');
    expect(out.targets.map((t: { name: string }) => t.name).sort()).to.include('onprem');
    const abstained = await ppn(['route', 'what is the weather like tomorrow', ...asAdmin]);
    expect(abstained.code).to.equal(3);
    expect(JSON.parse(abstained.stdout).intent).to.equal(null);
  });

  it('ppn status names the peer whose session is down, with the mesh, the registry and the membership', async () => {
    const run = await ppn(['status', ...asAdmin]);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.match(/^ {4}leased 10\.8\.0\.\d+ +SESSION DOWN/m);
    expect(run.stdout).to.match(/^ {4}cloud-relay 10\.8\.0\.\d+ +session up {2}endpoint 127\.0\.0\.1:\d+ .*handshake \d+ s ago {2}rx \d/m);
    expect(run.stdout).to.match(/^ {2}mesh +userspace 10\.8\.0\.\d+/m);
    expect(run.stdout).to.match(/^ {2}registry +nodes: active \d+/m);
    expect(run.stdout).to.match(/membership seq \d+/);
    const json = JSON.parse((await ppn(['status', '--json', ...asAdmin])).stdout);
    expect(json.serviceStatus.mesh.peers.length).to.be.at.least(3);
  });
});
