// A fleet joined by genesis across NATs (issue 11), on the NAT testbed (root, network
// namespaces): every node joins at the authority's join endpoint from behind its NAT (a bundle
// with the endpoint and a one-time token; no inbound port) and takes commands from F8; onprem
// and leased go direct; the node behind `MASQUERADE --random` stays relayed and says why; kill -9
// of the admin and of the hub, NATs that forget their mappings and a cut direct path all heal by
// themselves, and a command sent during the NATs' loss of their mappings or the cut of the direct
// path lands (executed, acked) once; a steady 1% loss does not make paths flap; no command ever
// runs twice.
import { expect } from 'chai';
import { scratchDir } from '../support/pipeline.js';
import { requireNetns } from '../support/root.js';
import { startGenesisFleet, WG_PORT, type GenesisFleet } from './genesis-fleet.js';
import { sharedNatTestbed, type Host, type NatTestbed } from './testbed.js';

const EDGES: Host[] = ['onprem', 'leased', 'mobile', 'office1', 'office2'];

describe('a fleet joined by genesis across NATs (processes, the NAT testbed)', function () {
  this.timeout(180_000);
  let bed: NatTestbed;
  let fleet: GenesisFleet;
  const counters: { host: Host; counter: string }[] = [];
  const node = (h: Host) => fleet.node(h);
  /** Every edge node executes a fresh command (sent now, during or right after a change). */
  const everyNodeTakesACommand = async (ms = 20_000) => {
    for (const h of EDGES) counters.push({ host: h, ...(await fleet.command(h, ms)) });
  };
  /**
   * Commands sent at the moment of a change (a command per node, all at once): each one lands —
   * executed on its node, acked (the admin re-sends a datagram lost in a forgotten mapping or on a
   * dying path; the node answers a re-send with the ack it cached) — and none runs twice.
   */
  const sentDuringTheChange = (hosts: Host[]) => Promise.all(hosts.map((h) => fleet.send(h)));
  const landOnce = async (sent: { host: Host; id: string; counter: string }[]) => {
    counters.push(...sent);
    const outcomes = await Promise.all(sent.map(async (c) => ({ host: c.host, ...(await fleet.outcome(c.id)) })));
    expect(outcomes.map((o) => [o.host, o.status]), 'each command sent during the change').to.deep.equal(sent.map((c) => [c.host, 'executed']));
    expect(sent.map((c) => node(c.host).executions(c.counter)), 'executions of each').to.deep.equal(sent.map(() => 1));
  };
  const pathChanges = (h: Host, peer: string, since = 0) =>
    node(h).lines.all.slice(since).filter((l) => l.includes('"msg":"peer path changed"') && l.includes(`"peer":"${peer}"`));

  before(async function () {
    requireNetns(this, ['iptables', 'conntrack']);
    bed = await sharedNatTestbed();
    fleet = await startGenesisFleet(bed, scratchDir('nat-genesis'), ['admin', 'hub', ...EDGES]);
  });
  after(async () => {
    await fleet?.stop();
  });

  it('every node joined from behind its NAT at the join endpoint, without advertising its private address, and takes commands from F8', async () => {
    for (const h of EDGES) {
      const admin = (await node('admin').status()).serviceStatus.mesh.paths.peers.find((p: { name: string }) => p.name === h);
      expect(admin, `the admin peers with ${h}`).to.not.equal(undefined);
    }
    // The admin never got onprem's private address as an endpoint; its session is reached via the hub.
    const { nodes } = await fleet.f8Get('/v1/nodes');
    const onprem = nodes.find((n: { name: string }) => n.name === 'onprem');
    expect(onprem.endpoint).to.equal(`${bed.address('onprem')}:${WG_PORT}`);
    expect(onprem.path.candidates).to.not.include(`${bed.address('onprem')}:${WG_PORT}`);
    await everyNodeTakesACommand();
  });

  it('onprem and leased go direct; F8 shows what the admin knows of each path', async () => {
    await Promise.all([node('onprem').log('peer path changed', (r) => r.peer === 'leased' && r.reason === 'upgrade', 30_000),
      node('leased').log('peer path changed', (r) => r.peer === 'onprem' && r.reason === 'upgrade', 30_000)]);
    expect(await node('onprem').peer('leased')).to.include({ path: 'direct', endpoint: `${bed.publicAddress('leased')}:${WG_PORT}` });
    const { nodes } = await fleet.f8Get('/v1/nodes');
    for (const h of EDGES) {
      const path = nodes.find((n: { name: string }) => n.name === h).path;
      expect(path, h).to.include.keys('path', 'endpoint', 'candidates', 'lastHandshake', 'rxBytes', 'txBytes');
      expect(path.path, h).to.be.oneOf(['direct', 'relayed']);
      expect(path.rxBytes, h).to.be.above(0);
    }
  });

  it('the node behind --random stays relayed to onprem and says why', async () => {
    const until = Date.now() + 40_000;
    let seen = await node('onprem').peer('mobile');
    while (seen.whyNotDirect !== 'blocked by NAT' && Date.now() < until) {
      await node('onprem').lines.waitForNext(() => true, 2000).catch(() => {});
      seen = await node('onprem').peer('mobile');
    }
    expect(seen).to.include({ path: 'relayed', whyNotDirect: 'blocked by NAT' });
  });

  it('the admin killed (-9) and restarted: every node takes a command again', async () => {
    await node('admin').kill();
    await node('admin').start();
    await everyNodeTakesACommand();
  });

  it('the hub killed (-9) and restarted: spokes notice the silent hub, every node takes a command again', async () => {
    const since = node('mobile').lines.all.length;
    await node('hub').kill();
    await node('hub').start();
    await node('mobile').log('hub silent: starting a fresh session', undefined, 20_000, since);
    await everyNodeTakesACommand();
    // mobile is relayed to onprem: through the new hub.
    expect(await node('onprem').peer('mobile')).to.include({ path: 'relayed' });
  });

  it('NATs that forget every mapping (conntrack -F): a command sent at that moment lands once on every node; onprem–leased stays or returns direct', async () => {
    const since = node('onprem').lines.all.length;
    await Promise.all((['A', 'B', 'R', 'C'] as const).map((r) => bed.flush(r)));
    await landOnce(await sentDuringTheChange(EDGES));
    await everyNodeTakesACommand();
    if (pathChanges('onprem', 'leased', since).some((l) => l.includes('direct path died'))) {
      await node('onprem').log('peer path changed', (r) => r.peer === 'leased' && r.reason === 'upgrade', 60_000, since);
    }
    expect(await node('onprem').peer('leased')).to.include({ path: 'direct' });
  });

  it('a cut direct path falls back to the relay while commands pass (those sent during the cut land once), and returns once mended', async () => {
    const since = node('onprem').lines.all.length;
    const rule = ['-I', 'FORWARD', '-d', bed.publicAddress('leased'), '-j', 'DROP'];
    await bed.exec('nat-A', 'iptables', rule);
    try {
      const duringTheCut = await sentDuringTheChange(['onprem', 'leased']);
      await node('onprem').log('peer path changed', (r) => r.peer === 'leased' && r.reason === 'direct path died', 15_000, since);
      const duringTheFallback = await sentDuringTheChange(['onprem', 'leased']);
      await landOnce([...duringTheCut, ...duringTheFallback]);
      await everyNodeTakesACommand();
      expect(await node('onprem').peer('leased')).to.include({ path: 'relayed' });
    } finally {
      await bed.exec('nat-A', 'iptables', ['-D', ...rule.slice(1)]);
    }
    await node('onprem').log('peer path changed', (r) => r.peer === 'leased' && r.reason === 'upgrade', 60_000, since);
  });

  it('a steady 1% loss on a NAT does not make paths flap (at most one change a minute)', async function () {
    this.timeout(120_000);
    const since = { onprem: node('onprem').lines.all.length, leased: node('leased').lines.all.length };
    // 1% of what NAT A forwards, each way, dropped at random (this kernel has no netem).
    const loss = ['FORWARD', '-m', 'statistic', '--mode', 'random', '--probability', '0.01', '-j', 'DROP'];
    await bed.exec('nat-A', 'iptables', ['-I', ...loss]);
    try {
      // A minute under loss, with commands flowing.
      const end = Date.now() + 60_000;
      while (Date.now() < end) {
        counters.push({ host: 'onprem', ...(await fleet.command('onprem', 20_000)) });
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    } finally {
      await bed.exec('nat-A', 'iptables', ['-D', ...loss]);
    }
    expect(pathChanges('onprem', 'leased', since.onprem).length, 'onprem→leased changes').to.be.at.most(1);
    expect(pathChanges('leased', 'onprem', since.leased).length, 'leased→onprem changes').to.be.at.most(1);
  });

  it('no command ran twice, in any incarnation of any node', () => {
    expect(counters.length).to.be.above(EDGES.length * 5);
    const wrong = counters.map((c) => ({ ...c, runs: node(c.host).executions(c.counter) })).filter((c) => c.runs !== 1);
    expect(wrong, 'commands not run exactly once').to.deep.equal([]);
  });
});
