import { expect } from 'chai';
import { createAllowedIps, formatPrefix, parsePrefix } from '../../core/wireguard/allowed-ips.js';
import { parseIPv4 } from '../../core/wireguard/ipv4.js';

const v4 = (s: string) => parseIPv4(s)!;

describe('wireguard allowed-ips: cryptokey routing', () => {
  it('routes by longest prefix', () => {
    const t = createAllowedIps<string>();
    t.insert(parsePrefix('0.0.0.0/0'), 'default');
    t.insert(parsePrefix('10.0.0.0/8'), 'ten');
    t.insert(parsePrefix('10.8.0.0/24'), 'mesh');
    t.insert(parsePrefix('10.8.0.3/32'), 'leased');
    expect(t.lookup(v4('10.8.0.3'))).to.equal('leased');
    expect(t.lookup(v4('10.8.0.2'))).to.equal('mesh');
    expect(t.lookup(v4('10.9.0.1'))).to.equal('ten');
    expect(t.lookup(v4('192.0.2.1'))).to.equal('default');
  });

  it('finds nothing outside every prefix', () => {
    const t = createAllowedIps<string>();
    t.insert(parsePrefix('10.8.0.0/24'), 'mesh');
    expect(t.lookup(v4('10.8.1.1'))).to.equal(undefined);
  });

  it('moves a prefix given to a second owner, like wg set', () => {
    const t = createAllowedIps<string>();
    t.insert(parsePrefix('10.8.0.5/32'), 'a');
    t.insert(parsePrefix('10.8.0.5/32'), 'b');
    expect(t.lookup(v4('10.8.0.5'))).to.equal('b');
    expect(t.prefixesOf('a')).to.deep.equal([]);
    expect(t.prefixesOf('b').map(formatPrefix)).to.deep.equal(['10.8.0.5/32']);
  });

  it('removes every prefix of one owner and leaves the others', () => {
    const t = createAllowedIps<string>();
    t.insert(parsePrefix('10.8.0.0/24'), 'hub');
    t.insert(parsePrefix('10.8.0.3/32'), 'leased');
    t.insert(parsePrefix('192.168.7.0/24'), 'leased');
    expect(t.prefixesOf('leased').map(formatPrefix).sort()).to.deep.equal(['10.8.0.3/32', '192.168.7.0/24']);
    t.removeValue('leased');
    expect(t.lookup(v4('10.8.0.3'))).to.equal('hub');
    expect(t.lookup(v4('192.168.7.1'))).to.equal(undefined);
    expect(t.prefixesOf('hub').map(formatPrefix)).to.deep.equal(['10.8.0.0/24']);
  });

  it('parses prefixes, clearing host bits, and IPv6 ones without mixing families', () => {
    expect(formatPrefix(parsePrefix('10.8.0.77/24'))).to.equal('10.8.0.0/24');
    expect(formatPrefix(parsePrefix('10.8.0.77'))).to.equal('10.8.0.77/32');
    expect(formatPrefix(parsePrefix('fd00::1/128'))).to.equal('fd00::1/128');
    expect(formatPrefix(parsePrefix('::/0'))).to.equal('::/0');
    const t = createAllowedIps<string>();
    t.insert(parsePrefix('::/0'), 'v6');
    expect(t.lookup(v4('10.0.0.1'))).to.equal(undefined);
    expect(t.lookup(parsePrefix('fd00::1').bytes)).to.equal('v6');
    for (const bad of ['10.0.0.0/33', '10.0.0/8', '300.0.0.1/32', 'fd00:::1/64', '10.0.0.1/8/8', '10.0.0.1/x', '']) {
      expect(() => parsePrefix(bad), bad).to.throw(/prefix/);
    }
  });
});
