// The heartbeat's two stages with the SDK's test kit: telemetry-report on a node sends its facts
// to the authority's telemetry port; telemetry-ingress there keeps the latest per node and
// refuses forged, replayed, wrongly sourced and malformed reports, each counted by reason.
import { expect } from 'chai';
import telemetryIngress from '../../plugins/telemetry-ingress/index.js';
import telemetryReport from '../../plugins/telemetry-report/index.js';
import { GENESIS_STATE_FILE, HOST, MESH, NODE, REGISTRY, REPORT_TYPE, TELEMETRY_PORT, type HostControl } from '../../core/sdk/index.js';
import { fakeMesh, startStage, type FakeMesh, type StageKit } from '../../core/sdk/testing.js';
import { AUTHORITY_ADDRESS, NODE_ADDRESS, NODE_ID, world, type World } from '../plugins/support.js';

const host = {
  status: () => ({ stages: { ingress: { type: 'udp-ingress', state: 'running' }, report: { type: 'telemetry-report', state: 'running' } }, drops: { 'not-from-authority': 2 }, serviceStatus: {} }),
} as unknown as HostControl;

describe('telemetry-report and telemetry-ingress', () => {
  let w: World;
  let nodeMesh: FakeMesh;
  let adminMesh: FakeMesh;
  let node: StageKit;
  let admin: StageKit;
  const from = { address: NODE_ADDRESS, port: 40000 };

  beforeEach(async () => {
    w = world();
    nodeMesh = fakeMesh(NODE_ADDRESS);
    adminMesh = fakeMesh(AUTHORITY_ADDRESS);
    admin = await startStage(telemetryIngress, { config: { logPerMinute: 2 }, services: { [MESH]: adminMesh, [NODE]: w.adminIdentity, [REGISTRY]: w.registry } });
    node = await startStage(telemetryReport, { config: { everySeconds: 1 }, services: { [MESH]: nodeMesh, [NODE]: w.nodeIdentity, [HOST]: host } });
  });
  afterEach(async () => {
    await node.close();
    await admin.close();
    w.cleanup();
  });

  it("sends a report at once and every interval, only to the authority's telemetry port, and the authority keeps the latest", async () => {
    const [first] = await node.emitted(1);
    expect(nodeMesh.sent.map((s) => [s.address, s.port, s.payload[0]])).to.deep.equal([[AUTHORITY_ADDRESS, TELEMETRY_PORT, REPORT_TYPE]]);
    const body = first.body as { seq: number; sent: boolean; bytes: number; facts: { everySeconds: number; stages: object; drops: object } };
    expect(body).to.deep.include({ sent: true });
    expect(body.bytes).to.be.at.most(1200);
    expect(body.facts).to.deep.include({ everySeconds: 1, stages: { ingress: 'running', report: 'running' }, drops: { total: 2, top: { 'not-from-authority': 2 } } });

    adminMesh.deliver(TELEMETRY_PORT, nodeMesh.sent[0].payload, from);
    const kept = w.registry.node(NODE_ID)!;
    expect(kept.report).to.deep.include({ seq: body.seq, facts: body.facts });
    expect(kept.lastSeen).to.equal(kept.report!.receivedAt);
    expect(admin.counts()).to.deep.equal({ reports: 1 });

    await node.emitted(2);
    expect(nodeMesh.sent).to.have.length(2);
    adminMesh.deliver(TELEMETRY_PORT, nodeMesh.sent[1].payload, from);
    expect(w.registry.node(NODE_ID)!.report!.seq).to.be.above(body.seq);
    expect(node.counts()).to.include({ reports: 2 });
  });

  it('carries the membership version the node applied (genesis-state.json), and the authority keeps it', async () => {
    const [first] = await node.emitted(1);
    expect((first.body as { facts: object }).facts).to.not.have.property('syncSeq');
    w.nodeIdentity.writeJson(GENESIS_STATE_FILE, { lastBeaconAt: 0, syncSeq: 7 });
    const [, second] = await node.emitted(2);
    expect((second.body as { facts: object }).facts).to.include({ syncSeq: 7 });
    adminMesh.deliver(TELEMETRY_PORT, nodeMesh.sent[1].payload, from);
    expect(w.registry.node(NODE_ID)!.report!.facts.syncSeq).to.equal(7);
  });

  it('refuses a replayed, an older, a forged and a wrongly sourced report, each counted, sampled in the log, changing nothing', async () => {
    await node.emitted(2);
    const [older, newer] = nodeMesh.sent.map((s) => Buffer.from(s.payload));
    adminMesh.deliver(TELEMETRY_PORT, newer, from);
    const kept = w.registry.node(NODE_ID)!.report;
    adminMesh.deliver(TELEMETRY_PORT, newer, from);
    adminMesh.deliver(TELEMETRY_PORT, older, from);
    const forged = Buffer.from(newer);
    forged[20] ^= 1;
    adminMesh.deliver(TELEMETRY_PORT, forged, from);
    adminMesh.deliver(TELEMETRY_PORT, newer.subarray(0, 40), from);
    adminMesh.deliver(TELEMETRY_PORT, newer, { address: '10.8.0.2', port: 40000 });
    expect(admin.counts()).to.deep.equal({
      reports: 1,
      'report-rejected.replayed': 1,
      'report-rejected.old': 1,
      'report-rejected.tag': 1,
      'report-rejected.length': 1,
      'report-rejected.wrong-source': 1,
    });
    expect(w.registry.node(NODE_ID)!.report).to.deep.equal(kept);
    expect(admin.logs.filter((l) => l.msg === 'telemetry report refused').map((l) => l.reason)).to.deep.equal(['replayed', 'old', 'tag', 'length', 'wrong-source']);
    // Nothing of a report is passed on to the authority's graph: the ack path's output stays empty.
    expect(admin.outputs).to.deep.equal([]);
  });

  it('counts a report it could not send (no route to the authority) and goes on', async () => {
    nodeMesh.unrouted.add(AUTHORITY_ADDRESS);
    const [first] = await node.emitted(1);
    expect((first.body as { sent: boolean }).sent).to.equal(false);
    expect(node.counts()).to.deep.equal({ 'reports-unsent': 1 });
  });

  it('refuses the command port in its config', async () => {
    let error: Error | undefined;
    await startStage(telemetryReport, { config: { port: 8090 }, services: {} }).catch((err: Error) => (error = err));
    expect(error?.message).to.match(/invalid config.*port/);
  });
});
