// `ppn keys` and `ppn packet`, run as a user runs them: the compiled CLI in a child process.
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../core/project-root.js';
import { formatKey, generateSecret, publicKeyOf } from '../../core/keys/index.js';
import { VECTORS_FILE } from '../vectors/generate.js';
import { tempDir } from './fixtures/setup.js';

const MAIN = join(projectRoot(), 'dist', 'core', 'cli', 'main.js');

function ppn(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { input, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Skips with a printed reason when `wg` is missing; under CI=true that is a failure instead. */
function requireWg(ctx: Mocha.Context): void {
  try {
    execFileSync('sh', ['-c', 'command -v wg'], { stdio: 'ignore' });
    return;
  } catch {
    const why = "'wg' (Debian's wireguard-tools) is not installed";
    if (process.env.CI === 'true') throw new Error(`cannot compare with wg under CI: ${why}`);
    console.log(`      SKIPPED (${why})`);
    ctx.skip();
  }
}

const KEY_LINE = /^[A-Za-z0-9+/]{43}=\n$/;

describe('protocol CLI', function () {
  this.timeout(30_000);

  describe('ppn keys', () => {
    it('gen prints a secret; gen --out writes it 0600, prints its public key, and never overwrites', () => {
      const secret = ppn(['keys', 'gen']);
      expect(secret.code).to.equal(0);
      expect(secret.stdout).to.match(KEY_LINE);

      const file = join(tempDir('keys'), 'node.key');
      const made = ppn(['keys', 'gen', '--out', file]);
      expect(made.code).to.equal(0);
      expect(made.stdout).to.match(KEY_LINE);
      expect(statSync(file).mode & 0o777).to.equal(0o600);
      expect(readFileSync(file, 'utf8')).to.match(KEY_LINE);
      expect(readFileSync(file, 'utf8')).not.to.equal(made.stdout);
      expect(ppn(['keys', 'pub', file]).stdout).to.equal(made.stdout);
      expect(ppn(['keys', 'pub'], readFileSync(file, 'utf8')).stdout).to.equal(made.stdout);

      const again = ppn(['keys', 'gen', '--out', file]);
      expect(again.code).to.equal(2);
      expect(again.stderr).to.match(/already exists/);
      expect(ppn(['keys', 'pub', file]).stdout, 'the file is unchanged').to.equal(made.stdout);
    });

    it('pub refuses bad input with exit 2 and a precise message', () => {
      const dir = tempDir('keys');
      const bad = ppn(['keys', 'pub'], 'not a key\n');
      expect(bad.code).to.equal(2);
      expect(bad.stderr).to.match(/secret key in stdin must be 44 characters/);
      expect(bad.stdout).to.equal('');
      const missing = ppn(['keys', 'pub', join(dir, 'nope.key')]);
      expect(missing.code).to.equal(2);
      expect(missing.stderr).to.match(/no such file/);
      const file = join(dir, 'noncanonical.key');
      writeFileSync(file, `${'A'.repeat(42)}B=\n`);
      const noncanonical = ppn(['keys', 'pub', file]);
      expect(noncanonical.code).to.equal(2);
      expect(noncanonical.stderr).to.match(/not canonical base64/);
    });

    it('agrees with wg genkey / wg pubkey in both directions', function () {
      requireWg(this);
      const ours = ppn(['keys', 'gen']).stdout;
      expect(execFileSync('wg', ['pubkey'], { input: ours, encoding: 'utf8' })).to.equal(ppn(['keys', 'pub'], ours).stdout);
      const theirs = execFileSync('wg', ['genkey'], { encoding: 'utf8' });
      expect(ppn(['keys', 'pub'], theirs).stdout).to.equal(execFileSync('wg', ['pubkey'], { input: theirs, encoding: 'utf8' }));
    });
  });

  describe('ppn packet', () => {
    const authorityKey = generateSecret();
    const nodeKey = generateSecret();
    const authority = formatKey(authorityKey);
    const node = formatKey(nodeKey);
    const authorityPublic = formatKey(publicKeyOf(authorityKey));
    const nodePublic = formatKey(publicKeyOf(nodeKey));
    const encode = (extra: string[] = []) =>
      ppn([
        'packet', 'encode', '--authority-secret', authority, '--node-public', nodePublic, '--node-id', '3',
        '--epoch', '2', '--opcode', '0x03', '--arg', '1', '--target', '0x0101', '--counter', '0x1000005', ...extra,
      ]);
    const verify = (hex: string, extra: string[] = []) =>
      ppn(['packet', 'verify', hex, '--node-secret', node, '--authority-public', authorityPublic, '--node-id', '3', ...extra]);

    it('encode → verify round-trips; the verdict is JSON and the exit code 0 or 1', () => {
      const encoded = encode();
      expect(encoded.code).to.equal(0);
      expect(encoded.stdout).to.match(/^[0-9a-f]{32}\n$/);
      const hex = encoded.stdout.trim();

      const accepted = verify(hex, ['--groups', '1,2', '--highest', '16777000']);
      expect(accepted.code).to.equal(0);
      expect(JSON.parse(accepted.stdout)).to.deep.equal({ ok: true, reason: null, counter: '16777221', epoch: 2, opcode: 3, arg: 1, target: 257 });

      const replay = verify(hex, ['--groups', '1', '--highest', '16777221']);
      expect(replay.code).to.equal(1);
      expect(JSON.parse(replay.stdout)).to.include({ ok: false, reason: 'replay', counter: '16777221' });

      // From H = 0 the low 24 bits read as C = 5: the tag does not match.
      expect(JSON.parse(verify(hex, ['--groups', '1']).stdout)).to.include({ ok: false, reason: 'tag', counter: '5' });
      expect(JSON.parse(verify(hex, ['--groups', '2', '--highest', '16777000']).stdout)).to.include({ ok: false, reason: 'target' });
      expect(JSON.parse(verify(hex, ['--epoch', '4', '--highest', '16777000']).stdout)).to.include({ ok: false, reason: 'no-key' });
      expect(JSON.parse(verify(hex, ['--epoch', '3', '--groups', '1', '--highest', '16777000']).stdout), 'previous epoch').to.include({ ok: true });
      const short = verify(hex.slice(0, 30));
      expect(short.code).to.equal(1);
      expect(JSON.parse(short.stdout)).to.deep.equal({ ok: false, reason: 'length', counter: null, epoch: null, opcode: null, arg: null, target: null });
    });

    it('encode takes decimal or 0x-hex alike, and reproduces the checked-in vectors', () => {
      const decimal = encode(['--epoch', '2', '--opcode', '3', '--target', '257', '--counter', '16777221']);
      expect(decimal.stdout).to.equal(encode().stdout);
      const vectors = JSON.parse(readFileSync(VECTORS_FILE, 'utf8'));
      const v = vectors.packets[3];
      const n = vectors.nodes.find((x: { nodeId: number }) => x.nodeId === v.nodeId);
      const r = ppn([
        'packet', 'encode', '--authority-secret', vectors.authority.secret, '--node-public', n.public, '--node-id', String(v.nodeId),
        '--epoch', String(v.epoch), '--opcode', String(v.opcode), '--arg', String(v.arg), '--target', String(v.selector), '--counter', v.counter,
      ]);
      expect(r.stdout.trim()).to.equal(v.hex);
    });

    it('decode prints the fields without verifying', () => {
      const r = ppn(['packet', 'decode', '4203010101000005f966c54240305f76']);
      expect(r.code).to.equal(0);
      expect(JSON.parse(r.stdout)).to.deep.equal({
        version: 1, command: true, epoch: 2, opcode: 3, arg: 1, target: 257, targetKind: 'group', counterLow24: 5, tag: 'f966c54240305f76',
      });
    });

    it('exits 2 with a precise message on bad arguments', () => {
      const cases: Array<[ReturnType<typeof ppn>, RegExp]> = [
        [verify('xyz'), /hex digits in pairs/],
        [verify('00'.repeat(16), ['--node-id', '255']), /--node-id must be in 1..254, got 255/],
        [verify('00'.repeat(16), ['--highest', '12abc']), /--highest: '12abc' is not a decimal or 0x-hex number/],
        [ppn(['packet', 'verify', '00'.repeat(16), '--node-secret', 'short', '--authority-public', authorityPublic, '--node-id', '3']), /--node-secret must be 44 characters/],
        [encode(['--node-public', `${'A'.repeat(43)}=`]), /low-order point/],
        [encode(['--target', '0x0200']), /reserved selector/],
        [encode(['--opcode', '0xff']), /--opcode must be in 1..254/],
        [encode(['--counter', '0']), /--counter must be in 1..18446744073709551615/],
        [encode(['--counter', '0x10000000000000000']), /--counter must be in/],
        [encode(['--epoch', '64']), /--epoch must be in 0..63/],
        [ppn(['packet', 'decode', 'abcd']), /a command packet is 16 bytes, got 2/],
        [ppn(['packet', 'encode', '--node-id', '3']), /required option/],
      ];
      for (const [r, message] of cases) {
        expect(r.code, message.source).to.equal(2);
        expect(r.stderr, message.source).to.match(message);
        expect(r.stderr).not.to.contain(node);
        expect(r.stderr).not.to.contain(authority);
      }
    });
  });
});
