// The NAT testbed's own properties, shown with plain UDP between namespaces (root only): what the
// path tests rely on — outbound works, unsolicited inbound does not, MASQUERADE keeps ports and
// --random does not, simultaneous opening works behind A and B, the same-NAT pair sees each other
// on their LAN, and conntrack -F makes a router forget its mappings.
import { expect } from 'chai';
import { requireNetns } from '../support/root.js';
import { sharedNatTestbed, type NatTestbed, type UdpAgent } from './testbed.js';

const STUN = 3478;

describe('NAT testbed (network namespaces, plain UDP)', function () {
  this.timeout(60_000);
  let bed: NatTestbed;
  let hub: UdpAgent;

  before(async function () {
    requireNetns(this, ['iptables', 'conntrack']);
    bed = await sharedNatTestbed();
    hub = await bed.udp('hub', STUN);
  });

  /** Asks the hub which source it saw; retried, since the first datagram may race the agent's bind. */
  async function whoami(agent: UdpAgent, host = bed.address('hub')): Promise<string> {
    const since = agent.lines.all.length;
    const ask = setInterval(() => agent.send(host, STUN, 'whoami'), 200);
    agent.send(host, STUN, 'whoami');
    try {
      const reply = await agent.lines.waitFor((l) => l.includes('"you '), 10_000, `${host} to answer whoami`, since);
      return JSON.parse(reply).text.slice('you '.length);
    } finally {
      clearInterval(ask);
    }
  }

  it('outbound works, and behind A, B and C the mapped port is kept', async () => {
    for (const [host, port] of [['onprem', 40001], ['leased', 40002], ['office1', 40003]] as const) {
      const agent = await bed.udp(host, port);
      expect(await whoami(agent)).to.equal(`${bed.publicAddress(host)}:${port}`);
      await agent.stop();
    }
  });

  it('unsolicited inbound does not pass, though the mapping to the hub does', async () => {
    const onprem = await bed.udp('onprem', 40011);
    const mapped = await whoami(onprem);
    const admin = await bed.udp('admin', 40012);
    const dropsBefore = await bed.unsolicitedDrops('A');
    const [host, port] = mapped.split(':');
    for (let i = 0; i < 3; i++) admin.send(host, Number(port), 'unsolicited');
    await bed.dropped('A', dropsBefore + 3);
    // The mapping's own peer gets through.
    hub.send(host, Number(port), 'from the hub');
    await onprem.received('from the hub');
    expect(onprem.all().map((d) => d.text)).not.to.include('unsolicited');
    await Promise.all([onprem.stop(), admin.stop()]);
  });

  it('behind --random (NAT R) the mapped port changes per destination', async () => {
    const mobile = await bed.udp('mobile', 40021);
    const admin = await bed.udp('admin', STUN);
    const viaHub = await whoami(mobile, bed.address('hub'));
    const viaAdmin = await whoami(mobile, bed.address('admin'));
    expect(viaHub.split(':')[0]).to.equal(bed.publicAddress('mobile'));
    expect(viaAdmin.split(':')[0]).to.equal(bed.publicAddress('mobile'));
    expect(viaHub).not.to.equal(viaAdmin);
    await Promise.all([mobile.stop(), admin.stop()]);
  });

  it('behind A and B two nodes reach each other by simultaneous open at their observed endpoints', async () => {
    const onprem = await bed.udp('onprem', 40031);
    const leased = await bed.udp('leased', 40032);
    const onpremPublic = await whoami(onprem);
    const leasedPublic = await whoami(leased);
    // Both send at once (as the lighthouse will tell them to): each opens its own NAT for the other.
    const punch = setInterval(() => {
      onprem.send(leasedPublic.split(':')[0], Number(leasedPublic.split(':')[1]), 'punch from onprem');
      leased.send(onpremPublic.split(':')[0], Number(onpremPublic.split(':')[1]), 'punch from leased');
    }, 100);
    try {
      const [atLeased, atOnprem] = await Promise.all([leased.received('punch from onprem'), onprem.received('punch from leased')]);
      expect(atLeased.from).to.equal(onpremPublic);
      expect(atOnprem.from).to.equal(leasedPublic);
    } finally {
      clearInterval(punch);
    }
    await Promise.all([onprem.stop(), leased.stop()]);
  });

  it('behind the same NAT (C) two nodes reach each other at their LAN addresses', async () => {
    const office1 = await bed.udp('office1', 40041);
    const office2 = await bed.udp('office2', 40042);
    office1.send(bed.address('office2'), 40042, 'hello neighbour');
    expect((await office2.received('hello neighbour')).from).to.equal(`${bed.address('office1')}:40041`);
    await Promise.all([office1.stop(), office2.stop()]);
  });

  it('conntrack -F makes a router forget its mappings: the hub can no longer reach in until the node sends again', async () => {
    const onprem = await bed.udp('onprem', 40051);
    const mapped = await whoami(onprem);
    const [host, port] = mapped.split(':');
    await bed.flush('A');
    const dropsBefore = await bed.unsolicitedDrops('A');
    hub.send(host, Number(port), 'after the flush');
    await bed.dropped('A', dropsBefore + 1);
    // The node sends again: a fresh mapping (the same port), and the hub reaches in once more.
    expect(await whoami(onprem)).to.equal(mapped);
    hub.send(host, Number(port), 'after the new mapping');
    await onprem.received('after the new mapping');
    expect(onprem.all().map((d) => d.text)).not.to.include('after the flush');
    await onprem.stop();
  });
});
