// The authority's telemetry port: every kind of bad ack is counted by reason, recorded nowhere,
// and logged at a sampled rate (junk from the mesh cannot flood the log).
import { expect } from 'chai';
import telemetryIngress from '../../plugins/telemetry-ingress/index.js';
import { createAckSigner, createKeyRetiredSigner, MESH, NODE, publicKeyOf, REGISTRY, TELEMETRY_PORT, type AckReport } from '../../core/sdk/index.js';
import { fakeMesh, startStage, type FakeMesh, type StageKit } from '../../core/sdk/testing.js';
import { generateSecret } from '../../core/keys/index.js';
import { openRegistry } from '../../core/registry/registry.js';
import { join } from 'node:path';
import { acksTaken as taken, NODE_ADDRESS, NODE_ID, world, type World } from './support.js';

describe('telemetry-ingress', () => {
  let w: World;
  let mesh: FakeMesh;
  let kit: StageKit;
  const from = { address: NODE_ADDRESS, port: 40001 };
  const ack = (counter: bigint, nodeId = NODE_ID, secret = w.node.secret) =>
    createAckSigner({ nodeSecret: secret, authorityPublic: publicKeyOf(w.authority.commandSecret), nodeId }).encode({ epoch: 0, counter, status: 'executed', detail: 'pong' });

  beforeEach(async () => {
    w = world();
    mesh = fakeMesh();
    kit = await startStage(telemetryIngress, { config: { logPerMinute: 3 }, services: { [MESH]: mesh, [NODE]: w.adminIdentity, [REGISTRY]: w.registry } });
    w.registry.recordCommand({
      id: 'c0-5', at: new Date().toISOString(), actor: 'operator', text: 'ping leased', intent: 'ping', opcode: 1, arg: 0, target: 'leased', selector: 3,
      epoch: 0, counter: '5', deadline: Date.now() + 60_000, targets: [{ nodeId: 3, name: 'leased', address: NODE_ADDRESS, packet: '00' }],
    });
  });
  afterEach(async () => {
    await kit.close();
    w.cleanup();
  });

  it('records an authentic ack from its node and passes it on', async () => {
    mesh.deliver(TELEMETRY_PORT, ack(5n), from);
    await taken();
    expect(w.registry.command('c0-5')?.targets.map((t) => [t.status, t.detail])).to.deep.equal([['executed', 'pong']]);
    expect(kit.outputs.map((e) => e.body)).to.deep.equal([{ nodeId: 3, epoch: 0, counter: '5', status: 'executed', detail: 'pong' } satisfies AckReport]);
    expect(kit.counts()).to.deep.equal({ acks: 1 });
  });

  it('refuses short, mistyped, forged, unknown-node, duplicate and wrongly sourced acks, each counted by reason', async () => {
    const forged = ack(5n);
    forged[forged.length - 1] ^= 1;
    const mistyped = ack(6n);
    mistyped[0] = 0xc5; // no telemetry type (0xC4 is the identity-change request)
    mesh.deliver(TELEMETRY_PORT, Buffer.alloc(5), from);
    mesh.deliver(TELEMETRY_PORT, mistyped, from);
    mesh.deliver(TELEMETRY_PORT, forged, from);
    mesh.deliver(TELEMETRY_PORT, ack(5n, 4, generateSecret()), from);
    mesh.deliver(TELEMETRY_PORT, ack(5n), { address: '10.8.0.2', port: 40001 });
    mesh.deliver(TELEMETRY_PORT, ack(7n), from);
    mesh.deliver(TELEMETRY_PORT, ack(7n), from);
    await taken();
    expect(kit.counts()).to.deep.equal({
      'ack-rejected.length': 1,
      'ack-rejected.type': 1,
      'ack-rejected.tag': 1,
      'ack-rejected.unknown-node': 1,
      'ack-rejected.wrong-source': 1,
      'ack-rejected.duplicate': 1,
      'acks-for-unknown-commands': 1,
    });
    expect(w.registry.command('c0-5')?.targets.map((t) => t.status)).to.deep.equal(['sent']);
  });

  it('refuses an ack that arrives again after the admin restarted (its replay windows are in the registry)', async () => {
    mesh.deliver(TELEMETRY_PORT, ack(5n), from);
    await taken();
    expect(kit.counts()).to.deep.equal({ acks: 1 });
    // The admin restarts: the stage and the registry are closed and opened again on the same file.
    await kit.close();
    w.registry.close();
    w.registry = openRegistry(join(w.dir, 'admin.db'));
    kit = await startStage(telemetryIngress, { config: { logPerMinute: 3 }, services: { [MESH]: mesh, [NODE]: w.adminIdentity, [REGISTRY]: w.registry } });
    mesh.deliver(TELEMETRY_PORT, ack(5n), from);
    await taken();
    expect(kit.counts()).to.deep.equal({ 'ack-rejected.duplicate': 1 });
    // A duplicate is what every re-send a node answered twice brings: counted, not warned of (above debug, 20).
    expect(kit.logs.filter((l) => l.msg === 'ack refused' && l.level > 20)).to.deep.equal([]);
  });

  it('logs refused acks at a sampled rate, however many arrive', async () => {
    for (let i = 0; i < 100; i++) mesh.deliver(TELEMETRY_PORT, Buffer.alloc(5 + (i % 7)), from);
    await taken();
    expect(kit.counts()).to.deep.equal({ 'ack-rejected.length': 100 });
    expect(kit.logs.filter((l) => l.msg === 'ack refused').length).to.equal(3);
  });

  it('takes acks that arrive together in one transaction: the first change announced finds all of them recorded', async () => {
    for (const counter of ['6', '7']) {
      w.registry.recordCommand({
        id: `c0-${counter}`, at: new Date().toISOString(), actor: 'operator', text: 'ping leased', intent: 'ping', opcode: 1, arg: 0, target: 'leased', selector: 3,
        epoch: 0, counter, deadline: Date.now() + 60_000, targets: [{ nodeId: 3, name: 'leased', address: NODE_ADDRESS, packet: '00' }],
      });
    }
    const seenAtFirstChange: string[][] = [];
    const stop = w.registry.onChange(() => {
      if (!seenAtFirstChange.length) seenAtFirstChange.push(['c0-5', 'c0-6', 'c0-7'].map((id) => w.registry.command(id)!.targets[0].status));
    });
    for (const counter of [5n, 6n, 7n]) mesh.deliver(TELEMETRY_PORT, ack(counter), from);
    await taken();
    stop();
    expect(seenAtFirstChange).to.deep.equal([['executed', 'executed', 'executed']]);
    expect(kit.counts()).to.deep.equal({ acks: 3 });
  });

  it("takes a node's key-retired report once: recorded, audited, that node's epoch moved; repeats and forgeries change nothing", () => {
    const reporter = (secret = w.node.secret) => createKeyRetiredSigner({ nodeSecret: secret, authorityPublic: publicKeyOf(w.authority.commandSecret), nodeId: NODE_ID });
    const forged = reporter().encode(0, 1 << 20);
    forged[forged.length - 1] ^= 1;
    mesh.deliver(TELEMETRY_PORT, forged, from);
    mesh.deliver(TELEMETRY_PORT, reporter(generateSecret()).encode(0, 1 << 20), from);
    mesh.deliver(TELEMETRY_PORT, reporter().encode(0, 1 << 20), { address: '10.8.0.2', port: 40001 });
    expect(w.registry.node(NODE_ID)!.keyEpoch).to.equal(undefined);
    mesh.deliver(TELEMETRY_PORT, reporter().encode(0, 1 << 20), from);
    mesh.deliver(TELEMETRY_PORT, reporter().encode(0, 1 << 20), from);
    expect(w.registry.node(NODE_ID)!.keyEpoch).to.equal(1);
    expect(w.registry.keyEpoch()).to.equal(undefined);
    expect(w.registry.node(NODE_ID)!.keyRetirements).to.deep.include({ count: 1, lastEpoch: 0 });
    expect(w.registry.auditLog(5).map((a) => a.action)).to.include.members(['node.key-retired', 'node.key-epoch']);
    expect(kit.counts()).to.deep.equal({ 'key-retired-rejected.tag': 2, 'key-retired-rejected.wrong-source': 1, 'key-retired': 1, 'key-retired-repeated': 1 });
  });
});
