// The key lifecycle over the real thing: the local mesh's four processes (hub, onprem, leased,
// admin) on userspace WireGuard over loopback UDP. While pings to leased go in through F8 at
// 50/s, `ppn keys rotate --node 3 --yes` (the real CLI) moves leased to epoch 1: every ping
// executes exactly once, later ones are signed under epoch 1, and leased's verifier says so.
// Multi-process: run under the shared lock (flock /tmp/ppn-root-tests.lock).
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from '../../core/project-root.js';
import type { RunningMesh } from '../../examples/local-mesh/launch.js';
import { startPinnedLocalMesh } from '../support/pinned-local-mesh.js';

const CLI = join(projectRoot(), 'dist', 'core', 'cli', 'main.js');

describe('key lifecycle over the local mesh (multi-process)', function () {
  this.timeout(120_000);
  let mesh: RunningMesh;

  before(async () => {
    ({ mesh } = await startPinnedLocalMesh('keys-local-mesh'));
  });
  after(async () => mesh?.stop());

  const f8 = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${mesh.f8Url}${path}`, {
      method,
      headers: { authorization: `Bearer ${mesh.f8Token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const settled = async (id: string) => {
    for (;;) {
      const { body } = await f8('GET', `/v1/commands/${id}`);
      if (body.targets.every((t: { status: string }) => t.status !== 'sent')) return body;
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const rotate = () =>
    new Promise<{ code: number | null; out: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [CLI, 'keys', 'rotate', '--node', '3', '--yes', '--f8-url', mesh.f8Url, '--f8-token', mesh.f8Token], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, out }));
    });

  it('rotates leased while pings flow at 50/s: each runs once, the later ones under epoch 1', async () => {
    const first = await f8('POST', '/v1/intents', { text: 'ping leased' });
    expect(first.status).to.equal(200);
    await settled(first.body.id);
    const ids: string[] = [];
    const posts: Promise<void>[] = [];
    let rotation: Promise<{ code: number | null; out: string }> | undefined;
    await new Promise<void>((resolve) => {
      let n = 0;
      const timer = setInterval(() => {
        n++;
        posts.push(f8('POST', '/v1/intents', { text: 'ping leased' }).then((r) => {
          expect(r.status, JSON.stringify(r.body)).to.equal(200);
          ids.push(r.body.id);
        }));
        if (n === 50) rotation = rotate();
        if (n === 150) {
          clearInterval(timer);
          resolve();
        }
      }, 20);
    });
    await Promise.all(posts);
    const result = await rotation!;
    expect(result.code, result.out).to.equal(0);
    expect(result.out).to.include('key epoch 0 → 1');
    const records = await Promise.all(ids.map(settled));
    expect(records.filter((c) => c.targets[0].status !== 'executed').map((c) => [c.id, c.targets[0].status])).to.deep.equal([]);
    const epochs = records.map((c) => Buffer.from(c.targets[0].packet, 'hex')[0] & 0x3f);
    expect(epochs.filter((e) => e === 1).length, 'pings signed under epoch 1').to.be.greaterThan(0);
    // Each command ran once on leased.
    const leased = mesh.nodes.get('leased')!;
    const handled = leased.logs.filter((r) => r.msg === 'command handled').map((r) => String(r.counter));
    expect(new Set(handled).size).to.equal(handled.length);
    await leased.waitForLog((r) => r.msg === 'command key epoch changed' && r.to === 1);
    const nodesView = (await f8('GET', '/v1/nodes')).body.nodes.find((x: { id: number }) => x.id === 3);
    expect(nodesView.keyEpoch).to.equal(1);
  });
});
