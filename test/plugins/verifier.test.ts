// The verifier's refusals: every receive step that can refuse, settled 'command-<reason>'.
import { expect } from 'chai';
import verifier from '../../plugins/verifier/index.js';
import { createKeyRetiredVerifier, MESH, publicKeyOf, NODE, TELEMETRY_PORT, type VerifiedCommand } from '../../core/sdk/index.js';
import { fakeMesh, startStage, type FakeMesh, type StageKit } from '../../core/sdk/testing.js';
import { world, type World } from './support.js';

describe('verifier', () => {
  let w: World;
  let kit: StageKit;
  let mesh: FakeMesh;
  beforeEach(async () => {
    w = world();
    mesh = fakeMesh('10.8.0.3');
    kit = await startStage(verifier, { config: { failedTagCap: 3, logPerMinute: 2 }, services: { [NODE]: w.nodeIdentity, [MESH]: mesh } });
  });
  afterEach(async () => {
    await kit.close();
    w.cleanup();
  });

  it('passes an authentic command on as a VerifiedCommand', () => {
    kit.push('datagram', w.packet(7n, { opcode: 0x02 }));
    expect(kit.outputs.map((e) => [e.kind, e.body])).to.deep.equal([['command', { counter: 7n, epoch: 0, opcode: 0x02, arg: 0, selector: 3 } satisfies VerifiedCommand]]);
  });

  it('refuses length, version, unknown epoch, tag, replay, other targets, reserved targets — each with its reason', () => {
    const good = w.packet(10n);
    const badTag = Buffer.from(good);
    badTag[15] ^= 1;
    const refused = [
      kit.push('datagram', good.subarray(0, 12)),
      kit.push('datagram', Buffer.from([good[0] & 0x3f, ...good.subarray(1)])),
      kit.push('datagram', w.packet(11n, { epoch: 5 })),
      kit.push('datagram', badTag),
    ];
    kit.push('datagram', w.packet(12n));
    refused.push(
      kit.push('datagram', w.packet(12n)),
      kit.push('datagram', w.packet(13n, { selector: 4 })),
      kit.push('datagram', w.packet(14n, { selector: 0x0200 })),
    );
    expect(refused.map((e) => kit.outcome(e))).to.deep.equal(
      ['length', 'version', 'no-key', 'tag', 'replay', 'target', 'reserved-target'].map((r) => ({ status: 'dropped', reason: `command-${r}` })),
    );
    expect(kit.outputs).to.have.length(1);
    expect(kit.stage.status!()).to.deep.include({ accepted: 1 });
  });

  it('logs rejections sampled (logPerMinute per reason), counts them all', () => {
    for (let i = 0; i < 20; i++) kit.push('datagram', Buffer.alloc(5));
    expect(kit.drops()).to.deep.equal({ 'command-length': 20 });
    expect(kit.logs.filter((l) => l.msg === 'command rejected')).to.have.length(2);
  });

  it('reports a retired key to the authority, and takes the new epoch and groups from the membership for the next packet', async () => {
    const from = { address: '10.8.0.10', port: 40000 };
    const forged = Buffer.from(w.packet(20n));
    forged[15] ^= 1;
    for (let i = 0; i < 3; i++) kit.push('datagram', forged, { from });
    expect(kit.outcome(kit.push('datagram', w.packet(21n), { from }))).to.deep.equal({ status: 'dropped', reason: 'command-key-retired' });
    const reports = mesh.sent.filter((s) => s.port === TELEMETRY_PORT);
    expect(reports.map((r) => r.address)).to.deep.equal(['10.8.0.10']);
    const check = createKeyRetiredVerifier({ authoritySecret: w.authority.commandSecret, nodePublicKey: () => publicKeyOf(w.node.secret) });
    expect(check.verify(reports[0].payload)).to.deep.equal({ ok: true, epoch: 0, nodeId: 3, failedTags: 3 });
    expect(kit.counts()).to.include({ 'key-retired': 1, 'key-retired-reported': 1 });

    // A membership update (as core/node's membership-updates service applies it) moves the epoch.
    w.nodeIdentity.membershipStore.apply({ epoch: 1, groups: [2] }, 'authority');
    kit.push('datagram', w.packet(22n, { epoch: 1, selector: 0x0102 }), { from });
    expect(kit.outputs.map((e) => (e.body as VerifiedCommand).epoch)).to.deep.equal([1]);
    expect(kit.stage.status!()).to.deep.include({ epoch: 1, retired: false });
  });

  it('a node that starts with its current key retired reports at once', async () => {
    const forged = Buffer.from(w.packet(20n));
    forged[15] ^= 1;
    for (let i = 0; i < 3; i++) kit.push('datagram', forged, { from: { address: '10.8.0.10', port: 1 } });
    await kit.close();
    mesh = fakeMesh('10.8.0.3');
    kit = await startStage(verifier, { config: { failedTagCap: 3 }, services: { [NODE]: w.nodeIdentity, [MESH]: mesh } });
    expect(mesh.sent.filter((s) => s.port === TELEMETRY_PORT)).to.have.length(1);
  });
});
