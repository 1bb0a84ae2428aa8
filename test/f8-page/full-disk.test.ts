// A full disk on the admin, end to end (issue 12 item 3): the local mesh with the admin's instance
// directory on a 6 MiB tmpfs of its own. While it is full, an intent is refused with 507 and
// nothing is sent, and the admin stays up; once space returns, a command executes on a node.
// Root only (mount): run under the root-test lock; skips loudly elsewhere, fails under CI=true.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startF8Mesh, type F8Mesh } from './support.js';

/** Writes a file until the filesystem has no byte left; returns its path. */
function fill(dir: string): string {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'w');
  try {
    for (const size of [1 << 16, 1]) {
      const chunk = Buffer.alloc(size, 1);
      try {
        for (;;) writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
    }
  } finally {
    closeSync(fd);
  }
  return path;
}

describe('a full disk on the admin (local mesh, tmpfs)', function () {
  this.timeout(60_000);
  let mesh: F8Mesh | undefined;
  let mounted: string | undefined;

  before(async function () {
    if (process.getuid?.() !== 0) {
      if (process.env.CI === 'true') throw new Error('root-only test cannot run under CI: not root');
      console.log('      SKIPPED (not root): this suite mounts a tmpfs for the admin');
      return this.skip();
    }
    mesh = await startF8Mesh('f8-full-disk', 2000, (fleet) => {
      const dir = fleet.find((n) => n.role === 'os-network-admin')!.instanceDir;
      const keep = mkdtempSync(join(tmpdir(), 'ppn-admin-copy-'));
      execFileSync('cp', ['-a', `${dir}/.`, keep]);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6m,mode=0700', 'tmpfs', dir]);
      mounted = dir;
      execFileSync('cp', ['-a', `${keep}/.`, dir]);
      rmSync(keep, { recursive: true });
    });
  });
  after(async () => {
    await mesh?.stop();
    if (mounted) execFileSync('umount', [mounted]);
  });

  const intent = (text: string) =>
    fetch(`${mesh!.f8Url}/v1/intents`, { method: 'POST', headers: { authorization: `Bearer ${mesh!.f8Token}` }, body: JSON.stringify({ text }) });
  /** The command's target status once it is no longer 'sent' (the ack came, or the deadline passed). */
  const settled = async (id: string): Promise<string> => {
    const stream = await fetch(`${mesh!.f8Url}/v1/events`, { headers: { authorization: `Bearer ${mesh!.f8Token}` } });
    const reader = stream.body!.getReader();
    try {
      const now = (await (await fetch(`${mesh!.f8Url}/v1/commands/${id}`, { headers: { authorization: `Bearer ${mesh!.f8Token}` } })).json()) as any;
      if (now.targets[0].status !== 'sent') return now.targets[0].status;
      let text = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) throw new Error('event stream ended');
        text += new TextDecoder().decode(value);
        for (const frame of text.split('\n\n')) {
          const data = /^event: command\ndata: (.*)$/m.exec(frame)?.[1];
          const record = data && JSON.parse(data);
          if (record?.id === id && record.targets[0].status !== 'sent') return record.targets[0].status;
        }
      }
    } finally {
      await reader.cancel();
    }
  };

  it('refuses commands with 507 while the disk is full, stays up, and executes them once space returns', async () => {
    const before = (await (await intent('ping leased')).json()) as { id: string };
    expect(await settled(before.id)).to.equal('executed');

    const filler = fill(mounted!);
    const refused = [await intent('ping leased'), await intent('ping onprem')];
    expect(refused.map((r) => r.status)).to.deep.equal([507, 507]);
    expect(((await refused[0].json()) as { error: string }).error).to.match(/disk is full/);
    const admin = mesh!.nodes.get('admin')!.process;
    expect([admin.exitCode, admin.signalCode]).to.deep.equal([null, null]);
    expect((await fetch(`${mesh!.f8Url}/healthz`)).status).to.equal(200);

    unlinkSync(filler);
    const after = (await (await intent('ping leased')).json()) as { id: string; counter: string };
    expect(await settled(after.id)).to.equal('executed');
    expect(BigInt(after.counter) > BigInt(before.id.split('-')[1])).to.equal(true);
  });
});
