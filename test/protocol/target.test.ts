import { expect } from 'chai';
import { ALL_NODES, groupSelector, nodeSelector, targetKind, targetMatches } from '../../core/protocol/target.js';

describe('protocol target selectors', () => {
  it('classifies all 65,536 values as the spec does', () => {
    const counts = { node: 0, group: 0, all: 0, reserved: 0 };
    for (let s = 0; s <= 0xffff; s++) counts[targetKind(s)]++;
    expect(counts).to.deep.equal({ node: 254, group: 256, all: 1, reserved: 65_536 - 254 - 256 - 1 });
    expect([0x0000, 0x00ff, 0x0200, 0xfffe].map(targetKind)).to.deep.equal(['reserved', 'reserved', 'reserved', 'reserved']);
  });

  it('builds selectors and matches them against a node and its groups', () => {
    expect(nodeSelector(3)).to.equal(0x0003);
    expect(groupSelector(7)).to.equal(0x0107);
    expect(() => nodeSelector(0)).to.throw(RangeError);
    expect(() => nodeSelector(255)).to.throw(RangeError);
    expect(() => groupSelector(256)).to.throw(RangeError);
    const groups = new Set([1, 7]);
    expect(targetMatches(nodeSelector(3), 3, groups)).to.equal(true);
    expect(targetMatches(nodeSelector(4), 3, groups)).to.equal(false);
    expect(targetMatches(groupSelector(7), 3, groups)).to.equal(true);
    expect(targetMatches(groupSelector(2), 3, groups)).to.equal(false);
    expect(targetMatches(ALL_NODES, 3, new Set())).to.equal(true);
  });
});
