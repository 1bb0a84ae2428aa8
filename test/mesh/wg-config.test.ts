// `ppn wg-config`: the wg-quick file an OS-mode node needs, from its instance directory.
import { expect } from 'chai';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSecret } from '../../core/membership/instance-files.js';
import { saveMembership } from '../../core/membership/membership.js';
import { formatKey, generateSecret, publicKeyOf } from '../../core/keys/index.js';
import { parseWgQuick } from '../../core/wireguard/config.js';
import { projectRoot } from '../../core/project-root.js';
import { scratchDir } from '../support/pipeline.js';
import { run } from '../wireguard/netns.js';
import { membershipOf } from './support.js';

const MAIN = join(projectRoot(), 'dist/core/cli/main.js');
const ppn = (args: string[]) => run(process.execPath, [MAIN, ...args]);
const pub = () => formatKey(publicKeyOf(generateSecret()));

describe('ppn wg-config', () => {
  let dir: string;
  const hub = { name: 'cloud-relay', publicKey: pub(), address: '10.8.0.1', allowedIPs: ['10.8.0.1/32'], endpoint: '198.51.100.7:51820', persistentKeepalive: 25 };
  const admin = { name: 'admin', publicKey: pub(), address: '10.8.0.10', allowedIPs: ['10.8.0.10/32'], via: 'cloud-relay' };

  beforeEach(() => {
    dir = scratchDir('wg-config');
    saveMembership(dir, membershipOf('onprem', '10.8.0.2', '0.0.0.0:51822', [hub, admin]));
    loadSecret(dir, 'identity.key', true);
  });

  it('writes DIR/ppn0.conf, mode 0600, that wg-quick and our parser read: interface, then a peer per membership peer', async () => {
    const r = await ppn(['wg-config', '--instance', dir]);
    expect(r.code, r.stderr).to.equal(0);
    const file = join(dir, 'ppn0.conf');
    expect(statSync(file).mode & 0o777).to.equal(0o600);
    const secret = loadSecret(dir, 'identity.key', false);
    expect(r.stdout + r.stderr).to.not.include(formatKey(secret));
    expect(r.stderr).to.include(`wrote ${file} (mode 0600`);
    // A relayed peer cannot be relayed by an OS interface: said, and listed without an endpoint.
    expect(r.stderr).to.match(/warning: admin: only reachable via cloud-relay \(relay\), which OS mode does not do/);

    const text = readFileSync(file, 'utf8');
    const c = parseWgQuick(text, file);
    expect(formatKey(c.interface.privateKey)).to.equal(formatKey(secret));
    expect(c.interface).to.include({ address: '10.8.0.2', listenPort: 51822 });
    expect(text).to.match(/^Address = 10\.8\.0\.2\/32$/m);
    expect(c.peers.map((p) => [formatKey(p.publicKey), p.allowedIPs, p.endpoint, p.persistentKeepalive])).to.deep.equal([
      [hub.publicKey, ['10.8.0.1/32'], { host: '198.51.100.7', port: 51820 }, 25],
      [admin.publicKey, ['10.8.0.10/32'], undefined, undefined],
    ]);
    expect(text).to.match(/^# cloud-relay \(10\.8\.0\.1\)$/m);
  });

  it('prints the file only with --out -, and tightens a file that was readable by others', async () => {
    const printed = await ppn(['wg-config', '--instance', dir, '--out', '-']);
    expect(printed.code).to.equal(0);
    expect(printed.stdout).to.include(`PrivateKey = ${formatKey(loadSecret(dir, 'identity.key', false))}`);

    const out = join(dir, 'elsewhere.conf');
    writeFileSync(out, 'old', { mode: 0o644 });
    const r = await ppn(['wg-config', '--instance', dir, '--out', out]);
    expect(r.code, r.stderr).to.equal(0);
    expect(statSync(out).mode & 0o777).to.equal(0o600);
    expect(readFileSync(out, 'utf8')).to.equal(printed.stdout);
  });

  it('exits 2 with the reason when the instance directory is not a node\'s', async () => {
    const empty = scratchDir('wg-config-empty');
    mkdirSync(empty, { recursive: true });
    const r = await ppn(['wg-config', '--instance', empty]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/membership\.json is missing/);
    const none = await ppn(['wg-config']);
    expect(none.code).to.equal(2);
    expect(none.stderr).to.match(/--instance/);
  });
});
