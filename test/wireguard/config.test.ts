import { expect } from 'chai';
import { ConfigError, parseWgQuick } from '../../core/wireguard/config.js';
import { formatKey } from '../../core/keys/index.js';
import { newKey } from './support.js';

const me = newKey();
const them = newKey();
const psk = formatKey(newKey().secret);

function file(lines: string[]): string {
  return lines.join('\n');
}

function errorOf(text: string): ConfigError {
  try {
    parseWgQuick(text, 'node.conf');
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('wireguard config: wg-quick style files', () => {
  it('reads an interface and its peers, keys case-insensitively, comments ignored', () => {
    const c = parseWgQuick(file([
      '# the admin node',
      '[Interface]',
      `PrivateKey = ${formatKey(me.secret)}`,
      'Address = 10.8.0.10/24, fd00::10/64',
      'listenport = 51820   # comment after a value',
      'DNS = 10.8.0.1',
      '',
      '[Peer]',
      `PublicKey = ${them.publicKey}`,
      `PresharedKey = ${psk}`,
      'AllowedIPs = 10.8.0.0/24',
      'AllowedIPs = 192.168.7.0/24',
      'Endpoint = relay.example.org:51820',
      'PersistentKeepalive = 25',
    ]), 'node.conf');
    expect(c.interface.address).to.equal('10.8.0.10');
    expect(c.interface.listenPort).to.equal(51820);
    expect(formatKey(c.interface.privateKey)).to.equal(formatKey(me.secret));
    expect(c.peers).to.have.length(1);
    expect(formatKey(c.peers[0].publicKey)).to.equal(them.publicKey);
    expect(formatKey(c.peers[0].presharedKey!)).to.equal(psk);
    expect(c.peers[0].allowedIPs).to.deep.equal(['10.8.0.0/24', '192.168.7.0/24']);
    expect(c.peers[0].endpoint).to.deep.equal({ host: 'relay.example.org', port: 51820 });
    expect(c.peers[0].persistentKeepalive).to.equal(25);
    expect(c.ignored).to.deep.equal([{ line: 6, key: 'dns' }]);
  });

  it('names the line of each mistake', () => {
    const base = ['[Interface]', `PrivateKey = ${formatKey(me.secret)}`, 'Address = 10.8.0.10/24', '[Peer]', `PublicKey = ${them.publicKey}`];
    const cases: [string[], number, RegExp][] = [
      [[...base, 'AllowedIPs = 10.8.0.0/33'], 6, /allowedips: bad prefix length/],
      [[...base, 'Endpoint = 10.0.0.1'], 6, /endpoint must be host:port/],
      [[...base, 'Endpoint = 10.0.0.1:99999'], 6, /not a port number/],
      [[...base, 'Endpoint = [fd00::1]:51820'], 6, /IPv6 endpoints/],
      [[...base, 'PersistentKeepalive = soon'], 6, /off or 0..65535/],
      [[...base, 'Colour = blue'], 6, /unknown key "colour" in \[Peer\]/],
      [[...base, 'PublicKey = abc'], 6, /"publickey" given twice/],
      [['[Interface]', 'PrivateKey = not-a-key', 'Address = 10.8.0.10/24'], 2, /privatekey: key must be 44 characters of base64/],
      [['[Interface]', `PrivateKey = ${formatKey(me.secret)}`, 'Address = 10.8.0.10/24', 'ListenPort = -1'], 4, /not a port number/],
      [['[Interface]', `PrivateKey = ${formatKey(me.secret)}`, 'Address = 10.8.0.10/24', 'just words'], 4, /expected "Key = Value"/],
      [['Address = 10.8.0.10/24'], 1, /before any \[Interface\]/],
      [['[Interface]', `PrivateKey = ${formatKey(me.secret)}`, 'Address = 10.8.0.10/24', '[Peers]'], 4, /unknown section \[Peers\]/],
      [['[Interface]', `PrivateKey = ${formatKey(me.secret)}`], 1, /no IPv4 Address/],
      [['[Interface]', 'Address = 10.8.0.10/24'], 1, /no PrivateKey/],
      [[...base.slice(0, 3), '', '[Peer]', 'AllowedIPs = 10.8.0.1/32'], 5, /\[Peer\] has no PublicKey/],
      [[...base, '[Peer]', `PublicKey = ${them.publicKey}`], 6, /same PublicKey in two/],
      [['# nothing'], 1, /no \[Interface\]/],
    ];
    for (const [lines, line, message] of cases) {
      const err = errorOf(file(lines));
      expect(err.line, lines.join(' | ')).to.equal(line);
      expect(err.message, lines.join(' | ')).to.match(message);
      expect(err.message.startsWith(`node.conf:${line}: `)).to.equal(true);
    }
  });
});
