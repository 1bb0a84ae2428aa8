// The join endpoint is reachable from the network (issue 12 items 5 and 9): idle, slow and
// oversized requests and too many connections are cut off and counted, bad requests are logged
// at a sampled rate, and a real join still goes through afterwards. Loopback, bounded in count.
import { expect } from 'chai';
import { request as httpRequest } from 'node:http';
import { createConnection, type Socket } from 'node:net';
import { JOIN_PATH, joinKeys, MAC_HEADER, MAX_JOIN_BODY, newNonce, sealRequest } from '../../core/genesis/join.js';
import { formatKey, generateSecret, publicKeyOf } from '../../core/keys/index.js';
import { loopbackAuthority, type LoopbackAuthority } from './support.js';

describe('join endpoint under hostile input', function () {
  this.timeout(20_000);
  let authority: LoopbackAuthority;
  beforeEach(async () => (authority = await loopbackAuthority()));
  afterEach(async () => authority.stop());

  const connect = () =>
    new Promise<Socket>((resolve, reject) => {
      const socket = createConnection({ host: '127.0.0.1', port: authority.joinEndpoint.port });
      socket.on('error', () => undefined);
      socket.once('connect', () => resolve(socket));
      socket.once('error', reject);
    });
  const closed = (socket: Socket) => new Promise<void>((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));
  const count = (what: string) => authority.counts.get(`join-rejected.${what}`) ?? 0;

  /** A real node's join request (from `localAddress`): still answered (202, pending) after the attack. */
  const realJoin = (localAddress = '127.0.0.1') => {
    const secret = generateSecret();
    const sealed = sealRequest(joinKeys(secret, publicKeyOf(authority.commandSecret)), {
      v: 1, publicKey: formatKey(publicKeyOf(secret)), name: 'edge', role: 'os-infrastructure', listen: '127.0.0.1:51999', at: Date.now(), nonce: newNonce(),
    });
    return new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port: authority.joinEndpoint.port, path: JOIN_PATH, method: 'POST', localAddress, headers: { [MAC_HEADER]: sealed.mac } },
        (res) => (res.resume(), resolve(res.statusCode!)),
      );
      req.on('error', reject);
      req.end(sealed.body);
    });
  };

  it('connections past the cap are closed and counted; silent ones are closed after the idle timeout', async () => {
    await authority.start({ limits: { maxConnections: 8, idleMs: 300, headersTimeoutMs: 10_000, requestTimeoutMs: 10_000 } });
    const silent = await Promise.all(Array.from({ length: 8 }, connect));
    const extra = await connect();
    await closed(extra);
    expect(count('too-many-connections')).to.equal(1);
    await Promise.all(silent.map(closed));
    expect(count('idle')).to.equal(8);
    expect(await realJoin()).to.equal(202);
  });

  it('headers sent slowly, or a body sent slowly, are cut off at their deadline (408) and counted', async () => {
    await authority.start({ limits: { idleMs: 5_000, headersTimeoutMs: 300, requestTimeoutMs: 600 } });
    // One header byte every 50 ms: never idle, never done.
    const slowHeaders = await connect();
    slowHeaders.write(`POST ${JOIN_PATH} HTTP/1.1\r\nHost: x\r\n`);
    const drip = setInterval(() => slowHeaders.writable && slowHeaders.write('X'), 50);
    // Headers in time, then the body a byte at a time.
    const slowBody = await connect();
    slowBody.write(`POST ${JOIN_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n`);
    const dripBody = setInterval(() => slowBody.writable && slowBody.write('{'), 50);
    const answers = [slowHeaders, slowBody].map((s) => {
      let text = '';
      s.setEncoding('utf8').on('data', (d: string) => (text += d));
      return closed(s).then(() => text);
    });
    const [headersAnswer, bodyAnswer] = await Promise.all(answers);
    clearInterval(drip);
    clearInterval(dripBody);
    expect(headersAnswer).to.match(/^HTTP\/1\.1 408/);
    expect(bodyAnswer).to.match(/^HTTP\/1\.1 408/);
    expect(count('slow')).to.equal(2);
    expect(await realJoin()).to.equal(202);
  });

  it('a body over the limit is refused (413) without being read, by its length or as it streams', async () => {
    await authority.start();
    const declared = await fetch(`http://127.0.0.1:${authority.joinEndpoint.port}${JOIN_PATH}`, { method: 'POST', body: Buffer.alloc(MAX_JOIN_BODY * 4, 'x') });
    expect(declared.status).to.equal(413);
    const streamed = await connect();
    let text = '';
    streamed.setEncoding('utf8').on('data', (d: string) => (text += d));
    streamed.write(`POST ${JOIN_PATH} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`);
    const chunk = 'x'.repeat(1024);
    for (let i = 0; i < 8 && !streamed.destroyed; i++) streamed.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    await closed(streamed);
    expect(text).to.match(/^HTTP\/1\.1 413/);
    expect(count('too-large')).to.equal(2);
    expect(await realJoin()).to.equal(202);
  });

  it('a flood of bad join requests is counted in full and logged at a sampled rate', async () => {
    await authority.start();
    const bad = () => fetch(`http://127.0.0.1:${authority.joinEndpoint.port}${JOIN_PATH}`, { method: 'POST', body: '{"v":1' }).then((r) => r.status);
    const statuses = [];
    for (let i = 0; i < 50; i++) statuses.push(await bad());
    expect(new Set(statuses)).to.deep.equal(new Set([400]));
    expect(count('malformed')).to.equal(50);
    const logged = authority.warnings.filter((l) => l.includes('join request rejected'));
    expect(logged.length).to.be.within(1, 5);
    expect(await realJoin()).to.equal(202);
  });

  it('32 join requests from fresh keys fill only their source\'s share of the pending list (issue 12 item 8)', async () => {
    await authority.start();
    const statuses = [];
    for (let i = 0; i < 32; i++) statuses.push(await realJoin('127.0.0.2'));
    expect(statuses.filter((s) => s === 202)).to.have.length(4);
    expect(statuses.filter((s) => s === 503)).to.have.length(28);
    expect(authority.counts.get('join-refused.too-many-pending-from-source')).to.equal(28);
    // A real node elsewhere still gets its request in.
    expect(await realJoin('127.0.0.1')).to.equal(202);
  });
});
