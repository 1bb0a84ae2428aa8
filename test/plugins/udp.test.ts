// The mesh's UDP stages: udp-ingress counts what arrives before it is connected (nothing is
// queued), udp-egress marks a target no peer routes as failed and counts it.
import { expect } from 'chai';
import udpEgress from '../../plugins/udp-egress/index.js';
import udpIngress from '../../plugins/udp-ingress/index.js';
import { COMMAND_PORT, MESH, REGISTRY, type OutboundCommand } from '../../core/sdk/index.js';
import { fakeMesh, startStage, type FakeMesh, type StageKit } from '../../core/sdk/testing.js';
import { AUTHORITY_ADDRESS, NODE_ADDRESS, world, type World } from './support.js';

describe('udp-ingress', () => {
  let mesh: FakeMesh;
  let kit: StageKit;
  beforeEach(async () => {
    mesh = fakeMesh('10.8.0.3');
    kit = await startStage(udpIngress, { config: {}, services: { [MESH]: mesh }, connect: false });
  });
  afterEach(() => kit.close());

  it('counts and drops datagrams that arrive before it is connected, then emits each with meta.from', () => {
    const from = { address: AUTHORITY_ADDRESS, port: 4000 };
    mesh.deliver(COMMAND_PORT, Buffer.from([1]), from);
    mesh.deliver(COMMAND_PORT, Buffer.from([2]), from);
    expect(kit.counts()).to.deep.equal({ 'dropped-before-connect': 2 });
    kit.connect();
    mesh.deliver(COMMAND_PORT, Buffer.from([3]), from);
    expect(kit.outputs.map((e) => [e.kind, [...(e.body as Buffer)], e.meta.from])).to.deep.equal([['datagram', [3], from]]);
  });

  it('gives its port back when closed', async () => {
    await kit.close();
    expect(mesh.deliver(COMMAND_PORT, Buffer.from([1]), { address: AUTHORITY_ADDRESS, port: 1 })).to.equal(false);
  });
});

describe('udp-egress', () => {
  let w: World;
  let mesh: FakeMesh;
  let kit: StageKit;
  beforeEach(async () => {
    w = world();
    mesh = fakeMesh();
    kit = await startStage(udpEgress, { config: {}, services: { [MESH]: mesh, [REGISTRY]: w.registry } });
  });
  afterEach(async () => {
    await kit.close();
    w.cleanup();
  });

  const command = (): OutboundCommand => {
    w.registry.recordCommand({
      id: 'c0-1', at: new Date().toISOString(), actor: 'operator', text: 'ping edge', intent: 'ping', opcode: 1, arg: 0, target: 'edge', selector: 0x101,
      epoch: 0, counter: '1', deadline: Date.now() + 60_000,
      targets: [{ nodeId: 3, name: 'leased', address: NODE_ADDRESS, packet: '00' }],
    });
    return {
      id: 'c0-1', epoch: 0, counter: '1', text: 'ping edge', actor: 'operator',
      draft: { intent: 'ping', opcode: 1, arg: 0, argName: null, target: 'edge', selector: 0x101, confidence: 1, confirm: false, explanation: '' },
      packets: [{ nodeId: 3, name: 'leased', address: NODE_ADDRESS, port: COMMAND_PORT, bytes: Buffer.alloc(16, 0x40) }],
    };
  };

  it('sends every packet and settles the command delivered with what was sent', () => {
    const env = kit.push('command', command());
    expect(mesh.sent.map((s) => [s.address, s.port])).to.deep.equal([[NODE_ADDRESS, COMMAND_PORT]]);
    expect((kit.outcome(env)?.detail as { targets: { sent: boolean }[] }).targets.map((t) => t.sent)).to.deep.equal([true]);
    expect(kit.counts()).to.deep.equal({ 'packets-sent': 1 });
  });

  it('marks a target no peer routes as failed in the registry, and counts it', () => {
    mesh.unrouted.add(NODE_ADDRESS);
    const env = kit.push('command', command());
    expect((kit.outcome(env)?.detail as { targets: { sent: boolean }[] }).targets.map((t) => t.sent)).to.deep.equal([false]);
    expect(w.registry.command('c0-1')?.targets.map((t) => [t.status, t.detail])).to.deep.equal([['failed', 'no route to the node on the mesh']]);
    expect(kit.counts()).to.deep.equal({ 'packets-unrouted': 1 });
    mesh.deliver(40000, Buffer.from('x'), { address: NODE_ADDRESS, port: 1 });
    expect(kit.counts()).to.deep.include({ 'unexpected-reply': 1 });
  });
});
