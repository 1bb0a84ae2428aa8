// `ppn wg run` as a user runs it: precise errors for bad files and options, and a working
// endpoint on loopback (no root needed) that stops cleanly on SIGTERM.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDevice, type Device } from '../../core/wireguard/device.js';
import { formatKey } from '../../core/keys/index.js';
import { run, stop, watchLines } from './netns.js';
import { newKey, nextHandshake, nextUdp } from './support.js';

const MAIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../core/cli/main.js');

describe('wireguard cli: ppn wg run', function () {
  this.timeout(30_000);
  const dir = mkdtempSync(join(tmpdir(), 'ppn-wg-cli-'));
  const me = newKey();
  const them = newKey();
  after(() => rmSync(dir, { recursive: true, force: true }));

  function conf(name: string, lines: string[]): string {
    const file = join(dir, name);
    writeFileSync(file, lines.join('\n'), { mode: 0o600 });
    return file;
  }

  it('exits 2 naming the file and line of a mistake', async () => {
    const file = conf('bad.conf', ['[Interface]', `PrivateKey = ${formatKey(me.secret)}`, 'Address = 10.8.0.2/33']);
    const r = await run(process.execPath, [MAIN, 'wg', 'run', file]);
    expect(r.code).to.equal(2);
    expect(r.stderr.trim()).to.equal(`ppn: ${file}:3: address: bad prefix length in "10.8.0.2/33"`);
  });

  it('exits 2 for a missing file or a bad option value', async () => {
    const missing = await run(process.execPath, [MAIN, 'wg', 'run', join(dir, 'nope.conf')]);
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.match(/cannot read .*nope\.conf: no such file/);
    const file = conf('ok.conf', ['[Interface]', `PrivateKey = ${formatKey(me.secret)}`, 'Address = 10.8.0.2/24']);
    const badPort = await run(process.execPath, [MAIN, 'wg', 'run', file, '--echo-udp', '70000']);
    expect(badPort.code).to.equal(2);
    expect(badPort.stderr).to.match(/--echo-udp must be an integer in 1\.\.65535/);
  });

  it('runs an endpoint that completes a handshake and echoes UDP, then stops on SIGTERM with exit 0', async () => {
    let device: Device | undefined;
    const child = spawn(process.execPath, [MAIN, 'wg', 'run', '--echo-udp', '8090', '--bind', '127.0.0.1', conf('run.conf', [
      '[Interface]', `PrivateKey = ${formatKey(me.secret)}`, 'Address = 10.8.0.2/24', 'DNS = 10.8.0.1',
      '[Peer]', `PublicKey = ${them.publicKey}`, 'AllowedIPs = 10.8.0.10/32',
    ])], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines = watchLines(child);
    try {
      const listening = JSON.parse(await lines.waitFor(/"msg":"listening"/, 10_000)) as { port: number; publicKey: string };
      expect(listening.publicKey).to.equal(me.publicKey);
      expect(lines.all.some((l) => l.includes('"key":"dns"'))).to.equal(true);
      device = await createDevice({ privateKey: them.secret, address: '10.8.0.10', bindAddress: '127.0.0.1' });
      device.addPeer({ publicKey: me.publicKey, allowedIPs: ['10.8.0.0/24'], endpoint: `127.0.0.1:${listening.port}` });
      const handshake = nextHandshake(device);
      const echo = nextUdp(device, 40000);
      device.sendUdp(40000, '10.8.0.2', 8090, Buffer.from('status?'));
      await handshake;
      expect((await echo).payload.toString()).to.equal('status?');
      await lines.waitFor(/"msg":"handshake completed"/, 5000);
      expect(await stop(child)).to.equal(0);
      await lines.waitFor(/"msg":"stopped"/, 1000);
      expect(lines.all.join('\n')).to.not.include(formatKey(me.secret));
    } finally {
      await stop(child);
      await device?.close();
    }
  });
});
