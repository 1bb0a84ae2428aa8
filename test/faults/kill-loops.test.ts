// The fault suite's kill -9 loops (issue 12, "Show it with tests"): while F8 sends a stream of
// commands to both edge nodes, each role in turn — the admin, the hub, an edge node — is killed
// with SIGKILL and started again, ROUNDS times. No counter may be used twice by the authority or
// run twice on a node, and afterwards every edge node takes commands again.
import { expect } from 'chai';
import { executions, startFaultMesh, type FaultMesh, type FaultNode } from './support.js';

const ROUNDS = 5;

describe('faults: kill -9 loops of every role during a command stream', function () {
  this.timeout(300_000);
  let mesh: FaultMesh;
  /** Every command F8 answered 200 for: its id (epoch and counter). */
  const answered: { id: string; counter: string }[] = [];
  let streaming = false;
  let stream: Promise<void> | undefined;

  before(async () => {
    mesh = await startFaultMesh('faults-kill');
    streaming = true;
    stream = (async () => {
      while (streaming) {
        // Two commands at random: a counter the authority used twice then carries other bytes
        // than its first use (a replay the node does not take for a re-send) in half the cases.
        const r = await mesh.post(Math.random() < 0.5 ? 'ping the edge nodes' : 'report telemetry from the edge nodes');
        if (r?.status === 200) answered.push({ id: r.body.id, counter: r.body.counter });
        // Paced, not synchronised: about 10 commands a second, whatever the admin's state.
        await new Promise((resolve) => setTimeout(resolve, r ? 100 : 300));
      }
    })();
  });
  after(async () => {
    streaming = false;
    await stream;
    await mesh?.stop();
  });

  const node = (name: string): FaultNode => mesh.nodes.get(name)!;
  const edges = ['onprem', 'leased'];
  /** Resolves once `name` has run a command from the stream that was sent after `since` answers. */
  const runsAgain = (name: string, since: number, ms = 60_000) =>
    node(name).waitForLog((r) => r.msg === 'command handled' && answered.slice(since).some((a) => a.counter === r.counter), ms, node(name).logs.length);

  for (const name of ['admin', 'cloud-relay', 'leased']) {
    it(`${name}: ${ROUNDS} × kill -9 and start again; no counter reused, nothing run twice`, async () => {
      for (let round = 0; round < ROUNDS; round++) {
        await node(name).kill();
        await node(name).start();
        // The restarted process does its job before the next kill: a command sent after the restart
        // runs on leased (signed by the new admin, or taken by the new leased), or on onprem through
        // the new hub's relay.
        await runsAgain(name === 'cloud-relay' ? 'onprem' : 'leased', answered.length);
      }
      const ids = answered.map((a) => a.id);
      expect(new Set(ids).size, 'every answered command has its own counter').to.equal(ids.length);
      for (const edge of edges) {
        const twice = answered.filter((a) => executions(node(edge), a.counter) > 1).map((a) => a.id);
        expect(twice, `${edge} ran a command twice`).to.deep.equal([]);
        // A counter the authority used twice reaches the node as a replay of other bytes than the
        // packet it took with that counter (logged replayOf 'other packet'; the first of each kind
        // in a minute is always logged, in every incarnation), or as too old. The admin's re-sends
        // are the same packet again ('same packet'), or, after a restart of the node, of commands
        // that never arrived before it and are below its highest counter ('unknown').
        const replays = node(edge).logs.filter((r) => r.msg === 'command rejected' && (r.reason === 'too-old' || r.replayOf === 'other packet'));
        expect(replays, `${edge} saw a counter again`).to.deep.equal([]);
      }
    });
  }

  it('afterwards every edge node takes commands again', async () => {
    const since = answered.length;
    await Promise.all(edges.map((edge) => runsAgain(edge, since)));
    const record = await mesh.get(`/v1/commands/${answered[answered.length - 1].id}`);
    expect(record.targets.map((t: { name: string }) => t.name).sort()).to.deep.equal([...edges].sort());
  });
});
