// A fleet in one mesh (issue 18): real nodes on this machine — the admin and the hub as their own
// processes, the edge nodes spread over four worker processes (test/support/fleet-sim.ts), every
// edge node joined by the Genesis join. `ping everyone` typed into F8 is signed, sent and
// executed once by every edge node and acknowledged to the admin; a membership change (one node
// revoked, one added in its place) reaches every node; after the hub restarts, every node takes a command
// again. Multi-process: run it under the shared lock (flock /tmp/ppn-root-tests.lock).
import { expect } from 'chai';
import { startFleetSim, type FleetSim } from '../support/fleet-sim.js';

/** Edge nodes: FLEET_EDGES, by default 252 — the whole /24 with the admin and the hub. */
const EDGES = Number(process.env.FLEET_EDGES ?? 252);

describe(`fleet of ${EDGES + 2} nodes (admin, hub and ${EDGES} edge nodes in 4 worker processes)`, function () {
  this.timeout(180_000);
  let fleet: FleetSim;
  before(async function () {
    this.timeout(300_000);
    fleet = await startFleetSim({ edges: EDGES });
  });
  after(async () => fleet && (await fleet.stop()));

  /** `ping everyone` through F8: executed once by every edge node, each acknowledged once. */
  const pingEveryone = async (takers: number) => {
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

  it('every edge node takes `ping everyone` once and acknowledges it; F8 shows every target executed', async () => {
    const answer = await pingEveryone(EDGES);
    const record = await fleet.f8Get(`/v1/commands/${encodeURIComponent(answer.body.id)}`);
    expect(record.status).to.equal(200);
    const statuses = (record.body.targets as { status: string }[]).map((t) => t.status);
    expect(statuses.filter((s) => s === 'executed')).to.have.length(EDGES);
  });

  it('a membership change (one node revoked, one added in its place) reaches every node', async () => {
    const [revokedId, revokedName] = [...fleet.edges][0];
    await fleet.ppn('nodes', 'revoke', String(revokedId), '--instance', `${fleet.root}/admin`);
    const names = [...fleet.edges.values()].filter((n) => n !== revokedName);
    // A full /24: the new node is given the id of the one revoked.
    expect(await fleet.addEdge('edge-new')).to.equal(revokedId);
    // Every edge node that was there applies an update whose peers are the other active nodes:
    // the other edges but the revoked one, the new one, the hub and the admin. (The new node got
    // its peers with its grant.)
    await fleet.membershipApplied(names, (u) => u.peers === names.length + 2, 90_000);
    await pingEveryone(EDGES);
  });

  it('after the hub restarts, every node takes a command again', async () => {
    // Once every spoke (the edge nodes and the admin) has a session with it again: a command sent
    // before that may run without its ack coming back (docs/fleet-limits.md).
    await fleet.restartHub(EDGES + 1);
    await pingEveryone(EDGES);
  });
});
