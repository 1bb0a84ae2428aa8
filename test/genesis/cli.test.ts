// The genesis commands as a user runs them: exit codes, messages, files and their modes.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { admit } from '../../core/genesis/admission.js';
import { openPairing } from '../../core/genesis/pairing.js';
import { formatCode } from '../../core/genesis/code.js';
import { projectRoot } from '../../core/project-root.js';
import { openRegistry } from '../../core/registry/registry.js';
import { scratchDir } from '../support/pipeline.js';
import { randomPublicKey } from './support.js';

const cli = join(projectRoot(), 'dist/core/cli/main.js');
const ppn = (...args: string[]) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile(process.execPath, [cli, ...args], (err, stdout, stderr) => resolve({ code: err ? Number(err.code) : 0, stdout, stderr })),
  );
const mode = (path: string) => statSync(path).mode & 0o777;

describe('genesis CLI', function () {
  this.timeout(60_000);
  const root = scratchDir('genesis-cli');
  const admin = join(root, 'admin');
  const node = join(root, 'edge');

  before(async () => {
    const r = await ppn('authority', 'init', '--instance', admin, '--listen', '192.0.2.1:51820');
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^authority admin \(10\.8\.0\.10\) initialised/);
  });

  it('authority init makes the keys (0600), the membership and the registry; never twice', async () => {
    for (const key of ['identity.key', 'command.key', 'genesis.key']) expect(mode(join(admin, key)), key).to.equal(0o600);
    expect(JSON.parse(readFileSync(join(admin, 'membership.json'), 'utf8'))).to.include({ nodeId: 10, role: 'os-network-admin', listen: '192.0.2.1:51820' });
    const again = await ppn('authority', 'init', '--instance', admin, '--listen', '192.0.2.1:51820');
    expect(again.code).to.equal(2);
    expect(again.stderr).to.match(/already holds a node \(membership\.json\); not overwriting it/);
    const bad = await ppn('authority', 'init', '--instance', join(root, 'x'), '--listen', 'admin.local:51820');
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.include("--listen must be IPv4:port (for example 192.0.2.1:51820), got 'admin.local:51820'");
  });

  it('provision export writes the public bundle (or a 0600 one with a token); a node pins it', async () => {
    const plain = join(root, 'plain.json');
    expect((await ppn('provision', 'export', '--instance', admin, '--out', plain)).code).to.equal(0);
    expect(mode(plain)).to.equal(0o644);
    expect(JSON.parse(readFileSync(plain, 'utf8'))).to.not.have.property('enrolmentToken');
    const secret = join(root, 'token.json');
    const r = await ppn('provision', 'export', '--instance', admin, '--out', secret, '--token');
    expect(r.stdout).to.match(/with a one-time enrolment token/);
    expect(r.stdout).to.not.include(JSON.parse(readFileSync(secret, 'utf8')).enrolmentToken);
    expect(mode(secret)).to.equal(0o600);
    expect((await ppn('provision', 'export', '--instance', admin, '--out', secret)).stderr).to.include('already exists; not overwriting it');

    const pinned = await ppn('provision', '--authority', secret, '--instance', node);
    expect(pinned.code, pinned.stderr).to.equal(0);
    expect(JSON.parse(readFileSync(join(node, 'authority.json'), 'utf8'))).to.deep.equal(JSON.parse(readFileSync(secret, 'utf8')).authority);
    expect(mode(join(node, 'enrolment.token'))).to.equal(0o600);
  });

  it('refuses bad bundles precisely, without echoing them, and a second authority', async () => {
    const broken = join(root, 'broken.json');
    writeFileSync(broken, '{"format": "ppn-provisioning/1", "enrolmentToken": "s3cret');
    const notJson = await ppn('provision', '--authority', broken, '--instance', join(root, 'other'));
    expect(notJson.code).to.equal(2);
    expect(notJson.stderr).to.equal(`ppn: ${broken}: not valid JSON\n`);
    writeFileSync(broken, JSON.stringify({ format: 'ppn-provisioning/1', createdAt: 'now', authority: { genesisKey: 'x' } }));
    const invalid = await ppn('provision', '--authority', broken, '--instance', join(root, 'other'));
    expect(invalid.code).to.equal(2);
    expect(invalid.stderr).to.include("/authority missing required property 'commandPublicKey'");
    const elsewhere = join(root, 'elsewhere');
    expect((await ppn('authority', 'init', '--instance', elsewhere, '--listen', '192.0.2.9:51820')).code).to.equal(0);
    const foreign = join(root, 'foreign.json');
    await ppn('provision', 'export', '--instance', elsewhere, '--out', foreign);
    const refused = await ppn('provision', '--authority', foreign, '--instance', node);
    expect(refused.code).to.equal(2);
    expect(refused.stderr).to.include('already pins another authority');
    expect((await ppn('provision', '--instance', node)).stderr).to.include('give --authority FILE and --instance DIR');
  });

  it('nodes list, approve (by id or a loosely typed code), revoke and rename; refusals exit 2 with the reason', async () => {
    const pairing = openPairing(openRegistry(join(admin, 'admin.db')));
    const pending = admit(pairing, { publicKey: randomPublicKey(), name: 'edge', role: 'os-infrastructure', listen: '192.0.2.7:51820' }, { auto: false, maxPending: 32, groupsByRole: { 'os-infrastructure': [1] } });
    pairing.registry.close();
    if (pending.status !== 'pending') throw new Error('pending expected');
    const code = formatCode(pending.code);

    const list = await ppn('nodes', 'list', '--instance', admin);
    expect(list.stdout).to.match(new RegExp(`^2 +10\\.8\\.0\\.2 +edge +os-infrastructure +pending +${code} +1 +192\\.0\\.2\\.7:51820`, 'm'));
    expect(JSON.parse((await ppn('nodes', 'list', '--instance', admin, '--json')).stdout).map((n: { id: number }) => n.id)).to.deep.equal([2, 10]);

    const wrongCode = await ppn('nodes', 'approve', 'ZZZZ-ZZZZ', '--instance', admin);
    expect([wrongCode.code, wrongCode.stderr]).to.deep.equal([2, 'ppn: no pending join request has the code ZZZZ-ZZZZ\n']);
    expect((await ppn('nodes', 'approve', 'ABCD-EFGU', '--instance', admin)).stderr).to.include("is neither a node id nor a join code: invalid code: 'U' is not used");
    const approved = await ppn('nodes', 'approve', code.toLowerCase().replace('-', ' '), '--instance', admin);
    expect(approved.stdout).to.equal('node 2 edge (10.8.0.2, os-infrastructure) is active\n');
    expect((await ppn('nodes', 'approve', '2', '--instance', admin)).stderr).to.include('node 2 (edge) is active; only a pending node can be made active');

    expect((await ppn('nodes', 'rename', '2', 'admin', '--instance', admin)).stderr).to.include("the name 'admin' is taken by node 10");
    expect((await ppn('nodes', 'rename', '2', 'leased', '--instance', admin)).stdout).to.equal('node 2 leased (10.8.0.2, os-infrastructure) is active\n');
    expect((await ppn('nodes', 'revoke', '10', '--instance', admin)).stderr).to.include('node 10 is the authority itself; it cannot be revoked');
    expect((await ppn('nodes', 'revoke', '2', '--instance', admin)).stdout).to.equal('node 2 leased (10.8.0.2, os-infrastructure) is revoked\n');
    expect((await ppn('nodes', 'revoke', '300', '--instance', admin)).stderr).to.include("'300' is not a node id (1..254)");
    const missing = await ppn('nodes', 'list', '--instance', join(root, 'nowhere'));
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.include('no admin database at');
    expect(existsSync(join(root, 'nowhere', 'admin.db'))).to.equal(false);
  });

  it('join and claim check their arguments before doing anything', async () => {
    const j = join(root, 'j');
    const [badRole, badListen, badWindow, badCode, badAddress, noEndpoint] = await Promise.all([
      ppn('join', '--instance', j, '--role', 'Edge Node'),
      ppn('join', '--instance', j, '--listen', '192.0.2.7'),
      ppn('join', '--instance', j, '--scan-window', 'soon'),
      ppn('claim', '192.0.2.7:9443', '--code', 'ABC', '--instance', admin),
      ppn('claim', 'edge.local:9443', '--code', 'ABCD-EFGH', '--instance', admin),
      ppn('claim', '192.0.2.7:9443', '--code', 'ABCD-EFGH', '--instance', admin),
    ]);
    expect([badRole.code, badRole.stderr]).to.deep.equal([2, "ppn: invalid role 'Edge Node': lower-case letters, digits and dashes, starting with a letter, at most 63 characters\n"]);
    expect(badListen.stderr).to.include('--listen must be IPv4:port');
    expect(badWindow.stderr).to.include("--scan-window must be an integer in 0..3600, got 'soon'");
    expect(existsSync(j)).to.equal(false);
    expect([badCode.code, badCode.stderr]).to.deep.equal([2, 'ppn: invalid code: 8 characters expected, got 3\n']);
    expect(badAddress.stderr).to.include('the node address must be IPv4:port');
    expect(noEndpoint.code).to.equal(2);
    expect(noEndpoint.stderr).to.include('the admin has not recorded a join endpoint yet');
  });
});
