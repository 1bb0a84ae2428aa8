import { expect } from 'chai';
import { tai64n, tai64nAfter } from '../../core/wireguard/tai64n.js';

describe('wireguard tai64n', () => {
  it('encodes seconds since the epoch on the TAI64 base, big-endian', () => {
    expect(Buffer.from(tai64n(0)).toString('hex')).to.equal('400000000000000a00000000');
    // 1,700,000,000 s = 0x6553f100, plus the 10 of the base.
    expect(Buffer.from(tai64n(1_700_000_000_000)).toString('hex')).to.equal('400000006553f10a00000000');
  });

  it('rounds nanoseconds down to about 16 ms (2^24 ns) so the clock is not leaked precisely', () => {
    const a = tai64n(1_700_000_000_001);
    const b = tai64n(1_700_000_000_015);
    expect(Buffer.from(a).equals(Buffer.from(b))).to.equal(true);
    const nanos = new DataView(tai64n(1_700_000_000_500).buffer).getUint32(8);
    expect(nanos % 2 ** 24).to.equal(0);
    expect(nanos).to.be.at.most(500_000_000).and.above(500_000_000 - 2 ** 24);
  });

  it('orders timestamps by time', () => {
    expect(tai64nAfter(tai64n(2000), tai64n(1000))).to.equal(true);
    expect(tai64nAfter(tai64n(1000), tai64n(2000))).to.equal(false);
    expect(tai64nAfter(tai64n(1000), tai64n(1000))).to.equal(false);
    expect(tai64nAfter(tai64n(1_000_100), tai64n(1_000_000))).to.equal(true);
  });
});
