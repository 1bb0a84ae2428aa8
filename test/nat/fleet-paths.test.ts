// Paths across real NATs (issue 11), on the NAT testbed (root, network namespaces): one mesh
// node per host with its paths owned, the membership laid out directly by the test (joining by
// genesis behind NAT is another suite's). Every node is reachable through the hub; onprem and
// leased (two MASQUERADE NATs) go direct on their own; the node behind `MASQUERADE --random`
// stays relayed to them and says why; the two nodes behind one NAT find their LAN path; NATs that
// forget their mappings heal by themselves; a direct path that is cut falls back to the relay,
// commands still pass, and it returns once mended.
import { expect } from 'chai';
import { requireNetns } from '../support/root.js';
import { startFleet, WG_PORT, type Node } from './fleet.js';
import { sharedNatTestbed, HOSTS, type Host, type NatTestbed } from './testbed.js';

describe('NAT paths on the testbed (membership laid out directly, not by genesis)', function () {
  this.timeout(120_000);
  let bed: NatTestbed;
  const nodes = new Map<Host, Node>();
  const node = (h: Host) => nodes.get(h)!;

  before(async function () {
    requireNetns(this, ['iptables', 'conntrack']);
    bed = await sharedNatTestbed();
    for (const [h, n] of await startFleet(bed, HOSTS)) nodes.set(h, n);
  });
  after(async () => {
    await Promise.all([...nodes.values()].map((n) => n.stop()));
  });

  it('every node is reachable from the admin', async () => {
    for (const h of HOSTS.filter((x) => x !== 'admin')) await node('admin').echo(h, `hello ${h}`);
  });

  it('onprem and leased, behind two MASQUERADE NATs, go direct on their own', async () => {
    await node('onprem').echo('leased', 'onprem to leased');
    await Promise.all([node('onprem').pathChange('leased', 'upgrade', 30_000), node('leased').pathChange('onprem', 'upgrade', 30_000)]);
    expect(await node('onprem').peer('leased')).to.include({ path: 'direct', endpoint: `${bed.publicAddress('leased')}:${WG_PORT}` });
    expect(await node('leased').peer('onprem')).to.include({ path: 'direct', endpoint: `${bed.publicAddress('onprem')}:${WG_PORT}` });
    await node('onprem').echo('leased', 'onprem to leased, direct');
  });

  it('the node behind --random stays relayed to onprem and says why', async () => {
    await node('onprem').echo('mobile', 'onprem to mobile');
    // Probing gives up after its punching window; until then the answer is "probing".
    const until = Date.now() + 40_000;
    let seen = await node('onprem').peer('mobile');
    while (seen.whyNotDirect !== 'blocked by NAT' && Date.now() < until) {
      await node('onprem').lines.waitForNext(() => true, 2000).catch(() => {});
      seen = await node('onprem').peer('mobile');
    }
    expect(seen).to.include({ path: 'relayed', whyNotDirect: 'blocked by NAT' });
    await node('onprem').echo('mobile', 'onprem to mobile, still relayed');
  });

  it('the two nodes behind one NAT find their LAN path', async () => {
    await node('office1').echo('office2', 'office1 to office2');
    await node('office1').pathChange('office2', 'upgrade', 30_000);
    expect(await node('office1').peer('office2')).to.include({ path: 'direct', endpoint: `${bed.address('office2')}:${WG_PORT}` });
  });

  it('NAT routers that forget every mapping (conntrack -F): every node takes commands again, the direct pair stays or returns direct', async () => {
    const since = node('onprem').lines.all.length;
    await Promise.all((['A', 'B', 'R', 'C'] as const).map((r) => bed.flush(r)));
    for (const h of HOSTS.filter((x) => x !== 'admin')) await node('admin').echo(h, `after the flush, ${h}`);
    await node('onprem').echo('leased', 'onprem to leased after the flush');
    // It may have fallen back for a moment (the mapping gone until onprem's next ping): then it returns.
    const fell = node('onprem').lines.all.slice(since).some((l) => l.includes('"reason":"direct path died"') && l.includes('"peer":"leased"'));
    if (fell) await node('onprem').pathChange('leased', 'upgrade', 30_000, since);
    expect(await node('onprem').peer('leased')).to.include({ path: 'direct' });
  });

  it('a cut direct path falls back to the relay, commands still pass, and it returns once mended', async () => {
    const onprem = node('onprem');
    await onprem.pathChange('leased', 'upgrade', 30_000);
    const since = onprem.lines.all.length;
    const rule = ['-I', 'FORWARD', '-d', bed.publicAddress('leased'), '-j', 'DROP'];
    await bed.exec('nat-A', 'iptables', rule);
    try {
      await onprem.pathChange('leased', 'direct path died', 15_000, since);
      await onprem.echo('leased', 'while the direct path is cut');
      expect(await onprem.peer('leased')).to.include({ path: 'relayed' });
    } finally {
      await bed.exec('nat-A', 'iptables', ['-D', ...rule.slice(1)]);
    }
    await onprem.pathChange('leased', 'upgrade', 60_000, since);
    await onprem.echo('leased', 'direct again');
  });
});
