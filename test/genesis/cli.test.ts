// The genesis commands as a user runs them: exit codes, messages, files and their modes.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { admit } from '../../core/genesis/admission.js';
import { JOIN_ENDPOINT_META, openPairing } from '../../core/genesis/pairing.js';
import { formatCode } from '../../core/genesis/code.js';
import { projectRoot } from '../../core/project-root.js';
import { openRegistry } from '../../core/registry/registry.js';
import { scratchDir } from '../support/pipeline.js';
import { pinAuthority, saveEnrolmentToken } from '../../core/genesis/authority-pin.js';
import { loopbackAuthority, randomPublicKey } from './support.js';

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

  // issue 11 item 1: joining from anywhere, outbound, at the join endpoint the bundle names.
  it('the bundle names the join endpoint when asked to (nodes outside the LAN); a node pins it with the authority', async () => {
    const bundleFile = join(root, 'with-endpoint.json');
    expect((await ppn('provision', 'export', '--instance', admin, '--out', join(root, 'x.json'), '--join-endpoint', 'admin.local:9444')).stderr).to.include("--join-endpoint must be IPv4:port");
    const r = await ppn('provision', 'export', '--instance', admin, '--out', bundleFile, '--join-endpoint', '198.51.100.7:9444');
    expect(r.code, r.stderr).to.equal(0);
    expect(JSON.parse(readFileSync(bundleFile, 'utf8'))).to.include({ joinEndpoint: '198.51.100.7:9444' });
    // Without it the bundle names none, even when the admin recorded one: LAN nodes keep the beacon.
    const lan = join(root, 'lan.json');
    const recorded = openPairing(openRegistry(join(admin, 'admin.db')));
    recorded.setMeta(JOIN_ENDPOINT_META, '192.0.2.1:51820');
    try {
      expect((await ppn('provision', 'export', '--instance', admin, '--out', lan)).code).to.equal(0);
      expect(JSON.parse(readFileSync(lan, 'utf8'))).to.not.have.property('joinEndpoint');
    } finally {
      // A later test wants an admin that has not recorded one.
      recorded.registry.db.prepare('DELETE FROM genesis_meta WHERE key = ?').run(JOIN_ENDPOINT_META);
      recorded.registry.close();
    }
    const far = join(root, 'far');
    const pinned = await ppn('provision', '--authority', bundleFile, '--instance', far);
    expect(pinned.stdout).to.include('join endpoint 198.51.100.7:9444');
    expect(JSON.parse(readFileSync(join(far, 'genesis-state.json'), 'utf8'))).to.include({ joinEndpoint: '198.51.100.7:9444' });
  });

  it('ppn join --authority-endpoint joins outbound at once: no beacon heard, no claim port opened', async () => {
    const authority = await loopbackAuthority();
    await authority.start();
    try {
      const dir = join(root, 'outbound');
      pinAuthority(dir, authority.pinned);
      saveEnrolmentToken(dir, authority.pairing.createToken('operator', 60_000));
      const r = await ppn('join', '--instance', dir, '--authority-endpoint', `127.0.0.1:${authority.joinEndpoint.port}`, '--listen', '127.0.0.1:51997', '--scan-window', '600', '--timeout', '20');
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.include(`joining the authority at 127.0.0.1:${authority.joinEndpoint.port} directly`);
      expect(r.stdout).to.not.include("listening for the authority's beacon");
      expect(r.stdout).to.not.include('waiting for an admin');
      expect(JSON.parse(readFileSync(join(dir, 'membership.json'), 'utf8'))).to.include({ name: 'outbound', listen: '127.0.0.1:51997' });
      const unpinned = await ppn('join', '--instance', join(root, 'unpinned'), '--authority-endpoint', '127.0.0.1:9', '--scan-window', '0');
      expect(unpinned.code).to.equal(1);
      expect(unpinned.stderr).to.include('a join endpoint needs a pinned authority');
    } finally {
      await authority.stop();
    }
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
