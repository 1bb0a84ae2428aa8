// A node's identity key changed over the real thing: the local mesh's four processes (hub,
// onprem, leased, admin) on userspace WireGuard over loopback UDP, the hub and leased taking the
// authority's membership updates. While `ping edge nodes` (leased and onprem) goes in through F8
// at 50/s, `ppn keys rotate-identity --instance <leased>` (the real CLI) gives leased a new key:
// every ping executes exactly once on every node, the later ones signed under epoch 1 (bound to
// the new key), the admin and the hub hold the new key for leased and completed a handshake
// with it, and once the overlap ends the old key is gone from leased (files, device, epoch 0).
// Multi-process: run under the shared lock (flock /tmp/ppn-root-tests.lock).
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readControlStatus } from '../../core/cli/control-client.js';
import { formatKey, publicKeyOf } from '../../core/keys/index.js';
import { loadSecret } from '../../core/membership/instance-files.js';
import { PENDING_IDENTITY_FILE, PREVIOUS_IDENTITY_FILE } from '../../core/node/identity-keys.js';
import type { RunningMesh } from '../../examples/local-mesh/launch.js';
import type { LocalNode } from '../../examples/local-mesh/fleet.js';
import { startPinnedLocalMesh } from '../support/local-mesh.js';
import { f8Of, pingsAt50, ppn, settled as settledOf, type F8 } from './local-mesh-kit.js';
const OVERLAP_MS = 4000;

type PeerView = { publicKey: string; handshakes: number; lastHandshake?: number };

describe('identity key over the local mesh (multi-process)', function () {
  this.timeout(180_000);
  let mesh: RunningMesh;
  let nodes: LocalNode[];
  const dirOf = (name: string) => nodes.find((n) => n.name === name)!.instanceDir;

  before(async () => {
    ({ mesh, nodes } = await startPinnedLocalMesh(
      'identity-local-mesh',
      (n, pipeline) => {
        if (n.name === 'leased') {
          pipeline.services = { node: { identity: { resendMs: 500, overlapMs: OVERLAP_MS } } };
          pipeline.stages.verifier.config = { ...pipeline.stages.verifier.config, epochOverlapMs: OVERLAP_MS };
        }
        if (n.role === 'os-network-admin') pipeline.stages.telemetry.config = { ...pipeline.stages.telemetry.config, identityOverlapMs: 2 * OVERLAP_MS };
      },
      ['leased', 'cloud-relay'],
    ));
  });
  after(async () => mesh?.stop());

  const f8: F8 = (method, path, body) => f8Of(mesh)(method, path, body);
  const settled = (id: string) => settledOf(f8, id);
  const rotateIdentity = () => ppn('keys', 'rotate-identity', '--instance', dirOf('leased'), '--json');
  const peersOf = async (name: string): Promise<PeerView[]> =>
    ((await readControlStatus(dirOf(name))).serviceStatus as { mesh: { peers: PeerView[] } }).mesh.peers;
  /** No event says a session came up elsewhere or a deadline passed: looked at every 200 ms. */
  const eventually = async (what: string, check: () => Promise<boolean>, timeoutMs = 60_000) => {
    const end = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  it('changes leased\'s identity key while pings flow to every node at 50/s: each runs once, peers take the new key, the old one ends with the overlap', async () => {
    const oldKey = formatKey(publicKeyOf(loadSecret(dirOf('leased'), 'identity.key', false)));
    const first = await f8('POST', '/v1/intents', { text: 'ping edge nodes' });
    expect(first.status, JSON.stringify(first.body)).to.equal(200);
    await settled(first.body.id);
    expect((await peersOf('cloud-relay')).map((p) => p.publicKey)).to.include(oldKey);

    const { ids, results: [result] } = await pingsAt50(f8, 'ping edge nodes', 250, { 50: rotateIdentity });
    expect(result.code, result.out).to.equal(0);
    const { publicKey: newKey, from, to } = JSON.parse(result.out) as { publicKey: string; from: number; to: number };
    expect([from, to]).to.deep.equal([0, 1]);
    expect(newKey).to.not.equal(oldKey);

    // None lost, none run twice, on either node; later ones reached leased under epoch 1.
    const records = await Promise.all(ids.map(settled));
    const notExecuted = records.flatMap((c) => c.targets.filter((t: { status: string }) => t.status !== 'executed').map((t: { name: string; status: string }) => [c.id, t.name, t.status]));
    expect(notExecuted).to.deep.equal([]);
    for (const name of ['leased', 'onprem']) {
      const handled = mesh.nodes.get(name)!.logs.filter((r) => r.msg === 'command handled').map((r) => String(r.counter));
      expect(new Set(handled).size, `${name}: a command ran twice`).to.equal(handled.length);
    }
    const leasedEpochs = records.map((c) => Buffer.from(c.targets.find((t: { name: string }) => t.name === 'leased').packet, 'hex')[0] & 0x3f);
    expect(leasedEpochs.filter((e) => e === 1).length, 'pings signed under epoch 1').to.be.greaterThan(0);

    // The authority records the new key at epoch 1; the admin and the hub hold it and completed a handshake with it.
    const view = (await f8('GET', '/v1/nodes')).body.nodes.find((x: { id: number }) => x.id === 3);
    expect(view).to.deep.include({ publicKey: newKey, keyEpoch: 1 });
    for (const name of ['admin', 'cloud-relay']) {
      await eventually(`${name} to complete a handshake with leased's new key`, async () => {
        const peers = await peersOf(name);
        return !peers.some((p) => p.publicKey === oldKey) && peers.some((p) => p.publicKey === newKey && p.handshakes > 0);
      });
    }

    // The overlap over: leased holds only the new key, answers only it, and epoch 0 is gone.
    const leased = mesh.nodes.get('leased')!;
    await leased.waitForLog((r) => r.msg === 'identity key change finished: the replaced key is forgotten', 30_000);
    expect(formatKey(publicKeyOf(loadSecret(dirOf('leased'), 'identity.key', false)))).to.equal(newKey);
    expect([existsSync(join(dirOf('leased'), PENDING_IDENTITY_FILE)), existsSync(join(dirOf('leased'), PREVIOUS_IDENTITY_FILE))]).to.deep.equal([false, false]);
    const status = await readControlStatus(dirOf('leased'));
    expect((status.serviceStatus as { mesh: { identity: unknown } }).mesh.identity).to.deep.equal({ publicKey: newKey, answering: [] });
    await eventually('the verifier to drop epoch 0', async () => {
      const verifier = (await readControlStatus(dirOf('leased'))).stages.verifier.details as { epoch: number; previousEpoch: number | null };
      return verifier.epoch === 1 && verifier.previousEpoch === null;
    });
    // Neither node that takes the authority's updates ever saw it name a key that was not its own.
    for (const name of ['leased', 'cloud-relay']) {
      expect(mesh.nodes.get(name)!.logs.filter((r) => String(r.msg).startsWith('the authority records another identity key')), name).to.deep.equal([]);
    }
    // Commands go on under the new key.
    const after = await settled((await f8('POST', '/v1/intents', { text: 'ping leased' })).body.id);
    expect(after.targets.map((t: { status: string }) => t.status)).to.deep.equal(['executed']);
  });
});
