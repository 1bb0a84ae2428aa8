// The path messages' wire format (core/mesh/paths/wire.ts): round trips, exact sizes, and a
// precise refusal for every malformed input.
import { expect } from 'chai';
import { decodeMessage, encodeMessage, MAX_ENDPOINTS, type PathMessage } from '../../core/mesh/paths/wire.js';

const txid = Buffer.from('0102030405060708', 'hex');
const e = (host: string, port: number) => ({ host, port });

describe('paths: wire format', () => {
  const messages: [PathMessage, number][] = [
    [{ type: 'ping', txid }, 10],
    [{ type: 'pong', txid, observed: e('203.0.113.10', 51820) }, 16],
    [{ type: 'ask', peer: '10.8.0.3', local: [e('192.168.1.2', 51820)] }, 13],
    [{ type: 'meet', peer: '10.8.0.2', endpoints: [e('203.0.113.10', 51820), e('192.168.1.2', 51820)] }, 19],
    [{ type: 'meet', peer: '10.8.0.2', endpoints: [] }, 7],
  ];
  for (const [m, size] of messages) {
    it(`${m.type} (${size} bytes) round-trips`, () => {
      const bytes = encodeMessage(m);
      expect(bytes.length).to.equal(size);
      expect(decodeMessage(bytes)).to.deep.equal(m);
    });
  }

  it('ignores bytes after a known body (a later version may append)', () => {
    const bytes = Buffer.concat([encodeMessage({ type: 'ping', txid }), Buffer.from([9, 9])]);
    expect(decodeMessage(bytes)).to.deep.equal({ type: 'ping', txid });
  });

  const ping = encodeMessage({ type: 'ping', txid });
  const meet = encodeMessage({ type: 'meet', peer: '10.8.0.2', endpoints: [e('203.0.113.10', 51820)] });
  const bad: [string, Buffer, string][] = [
    ['empty', Buffer.alloc(0), 'path message: too short'],
    ['another version', Buffer.from([2, ...ping.subarray(1)]), 'path message: unsupported version'],
    ['an unknown type', Buffer.from([1, 9, ...txid]), 'path message: unknown type'],
    ['a short ping', ping.subarray(0, 9), 'path message: ping too short'],
    ['a short pong', Buffer.from([1, 2, ...txid]), 'path message: pong too short'],
    ['a short meet', meet.subarray(0, 6), 'path message: ask/meet too short'],
    ['a cut endpoint list', meet.subarray(0, 12), 'path message: endpoint list cut short'],
    ['too many endpoints', Buffer.from([1, 4, 10, 8, 0, 2, MAX_ENDPOINTS + 1]), 'path message: too many endpoints'],
    ['port 0', Buffer.from([1, 4, 10, 8, 0, 2, 1, 203, 0, 113, 10, 0, 0]), 'path message: endpoint with port 0'],
  ];
  for (const [name, bytes, error] of bad) {
    it(`refuses ${name}`, () => expect(decodeMessage(bytes)).to.deep.equal({ error }));
  }

  it('refuses to encode what it could not decode', () => {
    expect(() => encodeMessage({ type: 'ping', txid: Buffer.alloc(4) })).to.throw(/8 bytes/);
    expect(() => encodeMessage({ type: 'ask', peer: 'hub', local: [] })).to.throw(/IPv4 mesh address/);
    expect(() => encodeMessage({ type: 'meet', peer: '10.8.0.2', endpoints: Array(MAX_ENDPOINTS + 1).fill(e('192.0.2.1', 1)) })).to.throw(/at most/);
  });
});
