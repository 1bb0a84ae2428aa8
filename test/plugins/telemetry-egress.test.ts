// Acks go up to the authority's telemetry port only; anything else is refused with its reason.
import { expect } from 'chai';
import telemetryEgress from '../../plugins/telemetry-egress/index.js';
import { MESH, NODE, TELEMETRY_PORT, type CommandAck } from '../../core/sdk/index.js';
import { fakeMesh, startStage, type FakeMesh, type StageKit } from '../../core/sdk/testing.js';
import { AUTHORITY_ADDRESS, world, type World } from './support.js';

describe('telemetry-egress', () => {
  let w: World;
  let mesh: FakeMesh;
  let kit: StageKit;
  const ack: CommandAck = { epoch: 0, counter: 9n, status: 'executed', detail: 'pong' };
  beforeEach(async () => {
    w = world();
    mesh = fakeMesh('10.8.0.3');
    kit = await startStage(telemetryEgress, { config: {}, services: { [MESH]: mesh, [NODE]: w.nodeIdentity } });
  });
  afterEach(async () => {
    await kit.close();
    w.cleanup();
  });

  it("sends an ack to the authority's telemetry port and settles it delivered", () => {
    const env = kit.push('ack', ack);
    expect(kit.outcome(env)).to.deep.equal({ status: 'delivered' });
    expect(mesh.sent.map((s) => [s.address, s.port, s.payload[0]])).to.deep.equal([[AUTHORITY_ADDRESS, TELEMETRY_PORT, 0xc1]]);
  });

  it('refuses what is not an ack, fails when no peer routes the authority, counts what arrives on its socket', () => {
    const notAck = kit.push('command', ack);
    mesh.unrouted.add(AUTHORITY_ADDRESS);
    const unrouted = kit.push('ack', ack);
    expect([kit.outcome(notAck), kit.outcome(unrouted)]).to.deep.equal([
      { status: 'dropped', reason: 'not-an-ack' },
      { status: 'failed', error: `no route to the authority at ${AUTHORITY_ADDRESS}` },
    ]);
    expect(mesh.sent).to.deep.equal([]);
    mesh.deliver(40000, Buffer.from('hello'), { address: AUTHORITY_ADDRESS, port: 1 });
    expect(kit.counts()).to.deep.equal({ 'unexpected-inbound': 1 });
  });
});
