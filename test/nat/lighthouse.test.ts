// The hub's lighthouse (core/mesh/paths/lighthouse.ts): who is told what when a spoke asks.
import { expect } from 'chai';
import { createLighthouse } from '../../core/mesh/paths/lighthouse.js';

const ONPREM = '10.8.0.2';
const LEASED = '10.8.0.3';
const natA = { host: '203.0.113.10', port: 51820 };
const natB = { host: '203.0.113.20', port: 51820 };
const lanA = { host: '192.168.1.2', port: 51820 };
const lanB = { host: '192.168.2.2', port: 51820 };

describe('paths: the lighthouse', () => {
  it('tells both ends of a pair where the other is seen; local endpoints only to a peer behind the same NAT', () => {
    const lh = createLighthouse();
    lh.observed(ONPREM, natA);
    lh.observed(LEASED, natB);
    expect(lh.ask(LEASED, ONPREM, [lanB])).to.deep.equal([
      { to: LEASED, message: { type: 'meet', peer: ONPREM, endpoints: [natA] } },
      { to: ONPREM, message: { type: 'meet', peer: LEASED, endpoints: [natB] } },
    ]);
    // Two spokes seen from one public address (one NAT) are told each other's LAN endpoints.
    const OFFICE2 = '10.8.0.6';
    lh.observed(OFFICE2, { host: natA.host, port: 40000 });
    lh.ask(ONPREM, OFFICE2, [lanA]);
    expect(lh.ask(OFFICE2, ONPREM, [lanB])).to.deep.equal([
      { to: OFFICE2, message: { type: 'meet', peer: ONPREM, endpoints: [natA, lanA] } },
      { to: ONPREM, message: { type: 'meet', peer: OFFICE2, endpoints: [{ host: natA.host, port: 40000 }, lanB] } },
    ]);
  });

  it('follows a spoke whose mapping changed (a NAT that forgot it)', () => {
    const lh = createLighthouse();
    lh.observed(ONPREM, natA);
    lh.observed(ONPREM, { ...natA, port: 40000 });
    expect(lh.endpointOf(ONPREM)).to.deep.equal({ ...natA, port: 40000 });
  });

  const refusals: [string, (lh: ReturnType<typeof createLighthouse>) => unknown, string][] = [
    ['a spoke asking for itself', (lh) => lh.ask(ONPREM, ONPREM, []), 'asked to meet itself'],
    ['a peer never seen', (lh) => lh.ask(ONPREM, LEASED, []), 'peer not seen yet'],
    ['an asker never seen directly', (lh) => lh.ask(LEASED, ONPREM, []), 'asker not seen directly'],
  ];
  for (const [name, call, refused] of refusals) {
    it(`refuses ${name}`, () => {
      const lh = createLighthouse();
      lh.observed(ONPREM, natA);
      expect(call(lh)).to.deep.equal({ refused });
    });
  }
});
