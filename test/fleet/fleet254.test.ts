// A fleet in one mesh (issue 18): real nodes on this machine — the admin and the hub as their own
// processes, the edge nodes spread over four worker processes (test/support/fleet-sim.ts), every
// edge node joined by the Genesis join. `ping everyone` typed into F8 is signed, sent and
// executed once by every edge node and acknowledged to the admin; a membership change (one node
// added, one revoked) reaches every node; after the hub restarts, every node takes a command
// again. Multi-process: run it under the shared lock (flock /tmp/ppn-root-tests.lock).
import { expect } from 'chai';
import { startFleetSim, type FleetSim } from '../support/fleet-sim.js';

/**
 * Edge nodes at the end: FLEET_EDGES (252, the whole /24 with the admin and the hub, by default).
 * The fleet starts one short, so that the node added fills the /24: node ids are never reused,
 * so a /24 that is full cannot take one more after a revoke.
 */
const EDGES = Number(process.env.FLEET_EDGES ?? 252);

describe(`fleet of ${EDGES + 2} nodes (admin, hub and ${EDGES} edge nodes in 4 worker processes)`, function () {
  this.timeout(180_000);
  let fleet: FleetSim;
  let takers = EDGES - 1;
  before(async function () {
    this.timeout(300_000);
    fleet = await startFleetSim({ edges: EDGES - 1 });
  });
  after(async () => fleet && (await fleet.stop()));

  /** `ping everyone` through F8: executed once by every edge node, each acknowledged once. */
  const pingEveryone = async () => {
    const answer = await fleet.f8('ping everyone');
    expect(answer.status, JSON.stringify(answer.body).slice(0, 500)).to.equal(200);
    const counter = String(answer.body.counter);
    expect(answer.body.targets).to.have.length(takers);
    const done = await fleet.executed(counter, takers, 60_000).catch(async (err: Error) => {
      // Say which targets did not run it, and what the admin recorded for them.
      const record = await fleet.f8Get(`/v1/commands/${encodeURIComponent(answer.body.id)}`);
      const missing = (record.body.targets as { name: string; status: string; detail?: string }[]).filter((t) => t.status !== 'executed');
      throw new Error(`${err.message}; not executed: ${JSON.stringify(missing.slice(0, 10).map(({ name, status, detail }) => ({ name, status, detail })))}`);
    });
    // Once each: a node that ran it twice would show twice.
    expect(done.length).to.equal(takers);
    await fleet.admin.waitFor(() => new Set(fleet.acks(counter).map((a) => a.nodeId)).size >= takers, 30_000, `${takers} acks`).catch(() => {});
    const acks = fleet.acks(counter);
    expect(new Set(acks.map((a) => a.nodeId)).size).to.equal(takers);
    expect(acks.length).to.equal(takers);
    return answer;
  };

  it('a node added reaches every node (the /24 is full then); every edge node takes `ping everyone` once and acknowledges it', async () => {
    const names = [...fleet.edges.values()];
    await fleet.addEdge('edge-new');
    takers++;
    // Every edge node that was there applies an update whose peers are the other nodes: the
    // other edges, the new one, the hub and the admin. (The new node got its peers with its grant.)
    await fleet.membershipApplied(names, (u) => u.peers === names.length + 2, 90_000);
    const answer = await pingEveryone();
    const record = await fleet.f8Get(`/v1/commands/${encodeURIComponent(answer.body.id)}`);
    expect(record.status).to.equal(200);
    const statuses = (record.body.targets as { status: string }[]).map((t) => t.status);
    expect(statuses.filter((s) => s === 'executed')).to.have.length(takers);
  });

  it('a node revoked: the change reaches every node, and every other edge node takes a command', async () => {
    const [revokedId, revokedName] = [...fleet.edges][0];
    await fleet.ppn('nodes', 'revoke', String(revokedId), '--instance', `${fleet.root}/admin`);
    takers--;
    // Their peers now: the other edges but the revoked one, the hub and the admin.
    const names = [...fleet.edges.values()].filter((n) => n !== revokedName);
    await fleet.membershipApplied(names, (u) => u.peers === names.length + 1, 90_000);
    await pingEveryone();
  });

  it('after the hub restarts, every node takes a command again', async () => {
    // Once every spoke (the edge nodes and the admin) has a session with it again: a command sent
    // before that may run without its ack coming back (docs/fleet-limits.md).
    await fleet.restartHub(takers + 1);
    await pingEveryone();
  });
});
