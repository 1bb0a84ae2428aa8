// The authority's keys rotated over the real thing: the local mesh's four processes (hub, onprem,
// leased, admin) on userspace WireGuard over loopback UDP. While pings to leased go in through
// F8 at 50/s, the real `ppn keys rotate-authority` hands the fleet a new genesis key and then a
// new command key: every ping executes exactly once, leased pins both new keys, takes membership
// updates signed with the new genesis key, and after the switch pings are signed under epoch 1
// on the new command key. Only leased is asked: onprem stands for a node behind NAT here,
// registered without an endpoint, for which the registry makes no membership (peers.ts), so it
// takes no updates and cannot follow a hand-over (nor pins the authority). Multi-process: run under the shared lock (flock /tmp/ppn-root-tests.lock).
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { loadPinnedAuthority } from '../../core/genesis/authority-pin.js';
import { projectRoot } from '../../core/project-root.js';
import type { RunningMesh } from '../../examples/local-mesh/launch.js';
import type { LocalNode } from '../../examples/local-mesh/fleet.js';
import { startPinnedLocalMesh } from '../support/pinned-local-mesh.js';

const CLI = join(projectRoot(), 'dist', 'core', 'cli', 'main.js');

describe('authority keys over the local mesh (multi-process)', function () {
  this.timeout(120_000);
  let mesh: RunningMesh;
  let nodes: LocalNode[];

  before(async () => {
    ({ mesh, nodes } = await startPinnedLocalMesh('authority-local-mesh'));
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
  const rotateAuthority = (...args: string[]) =>
    new Promise<{ code: number | null; out: string }>((resolve, reject) => {
      const admin = nodes.find((n) => n.role === 'os-network-admin')!;
      const child = spawn(process.execPath, [CLI, 'keys', 'rotate-authority', ...args, '--overlap', '6s', '--yes', '--instance', admin.instanceDir], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, out }));
    });

  it('hands over the genesis key, then the command key, while pings flow at 50/s: each runs once, the later ones under epoch 1', async () => {
    const first = await f8('POST', '/v1/intents', { text: 'ping leased' });
    expect(first.status).to.equal(200);
    await settled(first.body.id);
    const leased = mesh.nodes.get('leased')!;
    const leasedDir = nodes.find((n) => n.name === 'leased')!.instanceDir;
    const pinnedBefore = loadPinnedAuthority(leasedDir)!;
    const ids: string[] = [];
    const posts: Promise<void>[] = [];
    const rotations: Promise<{ code: number | null; out: string }>[] = [];
    await new Promise<void>((resolve) => {
      let n = 0;
      const timer = setInterval(() => {
        n++;
        posts.push(f8('POST', '/v1/intents', { text: 'ping leased' }).then((r) => {
          expect(r.status, JSON.stringify(r.body)).to.equal(200);
          ids.push(r.body.id);
        }));
        if (n === 50) rotations.push(rotateAuthority('--genesis'));
        if (n === 150) rotations.push(rotateAuthority('--command'));
        if (n === 450) {
          clearInterval(timer);
          resolve();
        }
      }, 20);
    });
    await Promise.all(posts);
    for (const result of await Promise.all(rotations)) expect(result.code, result.out).to.equal(0);
    // One at a time: 450 pollers at once are more than F8's HTTP server takes.
    const records = [];
    for (const id of ids) records.push(await settled(id));
    expect(records.filter((c) => c.targets[0].status !== 'executed').map((c) => [c.id, c.targets[0].status, c.targets[0].detail])).to.deep.equal([]);
    const epochs = records.map((c) => Buffer.from(c.targets[0].packet, 'hex')[0] & 0x3f);
    expect(epochs.filter((e) => e === 1).length, 'pings signed under epoch 1 (the new command key)').to.be.greaterThan(0);
    expect(epochs.lastIndexOf(0)).to.be.lessThan(epochs.indexOf(1), 'no ping under the old key after the first under the new one');
    // Each command ran once on leased.
    const handled = leased.logs.filter((r) => r.msg === 'command handled').map((r) => String(r.counter));
    expect(new Set(handled).size).to.equal(handled.length);
    // leased pins both new keys, took membership updates signed with the new genesis key.
    const pinned = loadPinnedAuthority(leasedDir)!;
    expect(pinned.handover).to.equal(2);
    expect(pinned.genesisKey).to.not.equal(pinnedBefore.genesisKey);
    expect(pinned.commandPublicKey).to.not.equal(pinnedBefore.commandPublicKey);
    expect(pinned.previous?.genesis?.key).to.equal(pinnedBefore.genesisKey);
    const takenAt = leased.logs.findIndex((r) => r.msg === 'authority keys handed over');
    expect(leased.logs.slice(takenAt).some((r) => r.msg === 'membership updated'), 'an update signed with the new genesis key').to.equal(true);
    expect(leased.logs.filter((r) => String(r.msg).includes('refused')).map((r) => r.reason)).to.deep.equal([]);
    const nodesView = (await f8('GET', '/v1/nodes')).body.nodes.find((x: { id: number }) => x.id === 3);
    expect(nodesView.keyEpoch).to.equal(1);
  });
});
