// A lost datagram does not lose a command: the admin's udp-egress re-sends the same 16 bytes to a
// target that has not acked, and the node runs a command once and answers a re-sent one with the
// ack it cached. The admin (udp-egress, telemetry-ingress) and the node (verifier, executor,
// telemetry-egress) run as real stages, joined by a wire that drops the datagram the test names.
import { expect } from 'chai';
import executor from '../../plugins/executor/index.js';
import telemetryEgress from '../../plugins/telemetry-egress/index.js';
import telemetryIngress from '../../plugins/telemetry-ingress/index.js';
import udpEgress from '../../plugins/udp-egress/index.js';
import verifier from '../../plugins/verifier/index.js';
import { COMMAND_PORT, HOST, MESH, NODE, REGISTRY, TELEMETRY_PORT, type HostControl, type OutboundCommand } from '../../core/sdk/index.js';
import { fakeMesh, startStage, type FakeMesh, type StageKit } from '../../core/sdk/testing.js';
import { AUTHORITY_ADDRESS, NODE_ADDRESS, tapped, world, type World } from './support.js';

describe('resending commands over a lossy path', () => {
  let w: World;
  let kits: StageKit[];
  let node: { verifier: StageKit; executor: StageKit };
  let egress: StageKit;
  let ingress: StageKit;
  let adminMesh: FakeMesh;
  let nodeMesh: FakeMesh;
  /** Which datagrams the wire drops, per destination port: their 1-based numbers. */
  let drop: Record<number, Set<number>>;
  let seen: Record<number, number>;
  const host: HostControl = {
    reload: async () => ({ ok: true }) as never,
    restart: async () => ({ ok: true }) as never,
    setLogLevel: () => {},
    status: () => ({ stages: {}, drops: {}, reloads: { count: 0 } }) as never,
  };

  beforeEach(async () => {
    w = world();
    kits = [];
    drop = {};
    seen = { [COMMAND_PORT]: 0, [TELEMETRY_PORT]: 0 };
    const lost = (port: number) => {
      seen[port] += 1;
      return drop[port]?.has(seen[port]) ?? false;
    };
    adminMesh = tapped(fakeMesh(AUTHORITY_ADDRESS), (port, payload) => {
      if (port !== COMMAND_PORT || lost(port)) return;
      setImmediate(() => node.verifier.push('datagram', payload, { from: { address: AUTHORITY_ADDRESS, port: 40000 } }));
    });
    nodeMesh = tapped(fakeMesh(NODE_ADDRESS), (port, payload) => {
      if (port !== TELEMETRY_PORT || lost(port)) return;
      setImmediate(() => adminMesh.deliver(TELEMETRY_PORT, payload, { address: NODE_ADDRESS, port: 40001 }));
    });
    const start = async (...args: Parameters<typeof startStage>) => {
      const kit = await startStage(...args);
      kits.push(kit);
      return kit;
    };
    egress = await start(udpEgress, { config: { resendAfterMs: 20 }, services: { [MESH]: adminMesh, [REGISTRY]: w.registry } });
    ingress = await start(telemetryIngress, { config: {}, services: { [MESH]: adminMesh, [NODE]: w.adminIdentity, [REGISTRY]: w.registry } });
    node = {
      verifier: await start(verifier, { config: {}, services: { [NODE]: w.nodeIdentity, [MESH]: nodeMesh } }),
      executor: await start(executor, { config: {}, stageId: 'exec', services: { [HOST]: host, [NODE]: w.nodeIdentity } }),
    };
    const acks = await start(telemetryEgress, { config: {}, services: { [MESH]: nodeMesh, [NODE]: w.nodeIdentity } });
    // The node's pipeline: verifier → executor → telemetry-egress.
    const forward = (from: StageKit, to: StageKit) => {
      let passed = 0;
      const next = () => from.emitted(passed + 1).then((out) => {
        for (const env of out.slice(passed)) to.push(env.kind, env.body);
        passed = out.length;
        next();
      });
      next();
    };
    forward(node.verifier, node.executor);
    forward(node.executor, acks);
  });
  afterEach(async () => {
    for (const kit of kits.reverse()) await kit.close();
    w.cleanup();
  });

  const ping = (counter: bigint): OutboundCommand => {
    const bytes = w.packet(counter);
    w.registry.recordCommand({
      id: `c0-${counter}`, at: new Date().toISOString(), actor: 'operator', text: 'ping leased', intent: 'ping', opcode: 1, arg: 0, target: 'leased', selector: 3,
      epoch: 0, counter: counter.toString(), deadline: Date.now() + 60_000,
      targets: [{ nodeId: 3, name: 'leased', address: NODE_ADDRESS, packet: bytes.toString('hex') }],
    });
    return {
      id: `c0-${counter}`, epoch: 0, counter: counter.toString(), text: 'ping leased', actor: 'operator',
      draft: { intent: 'ping', opcode: 1, arg: 0, argName: null, target: 'leased', selector: 3, confidence: 1, confirm: false, explanation: '' },
      packets: [{ nodeId: 3, name: 'leased', address: NODE_ADDRESS, port: COMMAND_PORT, bytes }],
    };
  };
  /** Resolves with the target's record once the node's ack for command `id` is recorded. */
  const answered = (id: string) =>
    new Promise<{ status: string; detail: string | null }>((resolve) => {
      const check = () => {
        const target = w.registry.command(id)?.targets[0];
        if (target && target.status !== 'sent') {
          stop();
          resolve(target);
        }
      };
      const stop = w.registry.onChange(check);
      check();
    });

  // Under load a re-send may go out before the ack is in: how many is not asserted, only that
  // the command ran once and its outcome was recorded once.
  it('re-sends a command whose first datagram was lost: executed once, acked', async () => {
    drop[COMMAND_PORT] = new Set([1]);
    egress.push('command', ping(1n));
    expect(await answered('c0-1')).to.deep.include({ status: 'executed', detail: 'pong' });
    expect(egress.counts()).to.deep.include({ 'packets-sent': 1 });
    expect(egress.counts().resends).to.be.at.least(1);
    expect(node.verifier.outputs).to.have.length(1);
    expect(node.executor.counts()).to.deep.include({ 'ack.executed': 1 });
    expect(ingress.counts()).to.deep.include({ acks: 1 });
  });

  it('answers a re-sent command whose ack was lost with the cached ack, without running it again', async () => {
    drop[TELEMETRY_PORT] = new Set([1]);
    egress.push('command', ping(1n));
    expect(await answered('c0-1')).to.deep.include({ status: 'executed', detail: 'pong' });
    expect(egress.counts().resends).to.be.at.least(1);
    expect(node.verifier.counts()['acks-resent']).to.be.at.least(1);
    expect(node.verifier.outputs).to.have.length(1);
    expect(node.executor.counts()).to.deep.include({ 'ack.executed': 1 });
    expect(ingress.counts()).to.deep.include({ acks: 1 });
  });

  it('takes a cached ack that arrives twice once: the outcome is set once, the second is a duplicate', async () => {
    egress.push('command', ping(1n));
    expect(await answered('c0-1')).to.deep.include({ status: 'executed' });
    node.verifier.push('datagram', w.packet(1n)); // a re-send that crossed the ack
    await ingress.counted('ack-rejected.duplicate', 1);
    expect(ingress.counts()).to.deep.include({ acks: 1 });
    expect(node.verifier.counts()).to.deep.include({ 'acks-resent': 1 });
    expect(node.executor.counts()).to.deep.include({ 'ack.executed': 1 });
  });

  it('stops re-sending a command once its ack is in', async () => {
    const first = ping(1n);
    egress.push('command', first);
    expect(await answered('c0-1')).to.deep.include({ status: 'executed' });
    const sentBefore = adminMesh.sent.length;
    // A second command whose first datagram is lost: its first re-send is due after the first
    // command's was, so by then the first command's timer has run and found its ack.
    drop[COMMAND_PORT] = new Set([seen[COMMAND_PORT] + 1]);
    egress.push('command', ping(2n));
    await egress.counted('resends', 1);
    expect(await answered('c0-2')).to.deep.include({ status: 'executed' });
    const later = adminMesh.sent.slice(sentBefore).map((s) => Buffer.from(s.payload).toString('hex'));
    expect(later).to.not.include(first.packets[0].bytes.toString('hex'));
    expect(node.verifier.outputs).to.have.length(2);
  });

  it('refuses a look-alike of a recent command (one bit off) as a bad tag, never with an ack', async () => {
    egress.push('command', ping(1n));
    expect(await answered('c0-1')).to.deep.include({ status: 'executed' });
    const lookAlike = w.packet(1n);
    lookAlike[15] ^= 1;
    node.verifier.push('datagram', lookAlike);
    expect(node.verifier.drops()).to.deep.include({ 'command-tag': 1 });
    expect(node.verifier.counts()['acks-resent']).to.equal(undefined);
  });

  it('tells a re-send from a counter used twice: the same bytes are answered, other bytes with a used counter are said so', async () => {
    egress.push('command', ping(1n));
    expect(await answered('c0-1')).to.deep.include({ status: 'executed' });
    node.verifier.push('datagram', w.packet(1n));
    node.verifier.push('datagram', w.packet(1n, { opcode: 0x02 })); // the authority's counter 1 again, for another command
    const rejected = node.verifier.logs.filter((l) => l.msg === 'command rejected').map((l) => [l.reason, l.replayOf, l.answered]);
    expect(rejected).to.deep.equal([['replay', 'same packet', true], ['replay', 'other packet', undefined]]);
    expect(node.verifier.counts()).to.deep.include({ 'acks-resent': 1 });
    expect(node.verifier.drops()).to.deep.include({ 'command-replay': 2 });
    expect(node.executor.counts()).to.deep.include({ 'ack.executed': 1 });
  });

  it('answers a re-send that reaches the node after a restart with the cached ack, without running it', async () => {
    egress.push('command', ping(1n));
    expect(await answered('c0-1')).to.deep.include({ status: 'executed' });
    await node.verifier.close();
    kits.splice(kits.indexOf(node.verifier), 1);
    const restarted = await startStage(verifier, { config: {}, services: { [NODE]: w.nodeIdentity, [MESH]: nodeMesh } });
    kits.push(restarted);
    restarted.push('datagram', w.packet(1n));
    expect(restarted.outputs).to.have.length(0);
    expect(restarted.counts()).to.deep.include({ 'acks-resent': 1 });
    expect(restarted.logs.filter((l) => l.msg === 'command rejected').map((l) => l.replayOf)).to.deep.equal(['same packet']);
    await ingress.counted('ack-rejected.duplicate', 1);
    expect(ingress.counts()).to.deep.include({ acks: 1 });
  });

  it("says of a replay it took nothing like lately that it is unknown: below the highest counter before a restart", async () => {
    egress.push('command', ping(2n));
    expect(await answered('c0-2')).to.deep.include({ status: 'executed' });
    await node.verifier.close();
    kits.splice(kits.indexOf(node.verifier), 1);
    const restarted = await startStage(verifier, { config: {}, services: { [NODE]: w.nodeIdentity, [MESH]: nodeMesh } });
    kits.push(restarted);
    // Counter 1 never arrived before the restart; it is below the highest taken (2), so it counts as seen.
    restarted.push('datagram', w.packet(1n));
    expect(restarted.drops()).to.deep.equal({ 'command-replay': 1 });
    expect(restarted.logs.filter((l) => l.msg === 'command rejected').map((l) => l.replayOf)).to.deep.equal(['unknown']);
  });
});
