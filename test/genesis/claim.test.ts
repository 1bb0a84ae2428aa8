import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { createServer, createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { loadPinnedAuthority, pinAuthority } from '../../core/genesis/authority-pin.js';
import { claimNode, ClaimRefusedError, listenForClaim, type ClaimListener } from '../../core/genesis/claim.js';
import { formatCode, newCode, normaliseCode } from '../../core/genesis/code.js';
import { joinMesh } from '../../core/genesis/join-client.js';
import { lineReader, writeLine } from '../../core/genesis/lines.js';
import { genesisKeyFromSeed } from '../../core/genesis/signing-key.js';
import { scratchDir } from '../support/pipeline.js';
import { feed, loopbackAuthority, randomPublicKey } from './support.js';

describe('self-genesis claim', function () {
  this.timeout(20_000);
  const key = genesisKeyFromSeed(randomBytes(32));
  const authority = { genesisKey: key.publicText, commandPublicKey: randomPublicKey(), nodeId: 10, address: '10.8.0.10' };
  const nodeKey = randomPublicKey();
  const code = newCode();
  let listener: ClaimListener;
  const rejects = feed<string>();
  afterEach(async () => listener && (await listener.close()));

  const listen = async (pinned?: typeof authority) => {
    listener = await listenForClaim({ host: '127.0.0.1', port: 0, code, nodePublicKey: nodeKey, pinned, onReject: (reason) => rejects.push(reason) });
    return listener;
  };
  const claim = (over: Partial<Parameters<typeof claimNode>[0]> = {}) =>
    claimNode({ node: { host: '127.0.0.1', port: listener.port }, code, genesisKey: key, authority, joinEndpoint: '192.0.2.1:9444', now: Date.now, ...over });

  it('a node without a pinned authority takes the one whose claim proves the code; wrong codes are refused and counted', async () => {
    await listen();
    const wrong = await claim({ code: newCode() }).catch((e) => e);
    expect(wrong).to.be.instanceOf(ClaimRefusedError).and.include({ reason: 'wrong-code' });
    expect(wrong.message).to.equal('the node refused the claim: wrong claim code');
    expect(listener.rejected['wrong-code']).to.equal(1);
    // The operator types the code as they read it: lower case, with its dash.
    expect(await claim({ code: normaliseCode(formatCode(code).toLowerCase()) })).to.equal(nodeKey);
    const claimed = await listener.claimed;
    expect(claimed.authority).to.deep.equal(authority);
    expect(claimed.joinEndpoint).to.equal('192.0.2.1:9444');
    const after = await claim().catch((e) => e);
    expect(after).to.be.instanceOf(ClaimRefusedError);
    expect(after.message).to.match(/cannot reach 127\.0\.0\.1:\d+: ECONNREFUSED/);
  });

  it('a node with a pinned authority refuses another authority, even with the right code', async () => {
    await listen(authority);
    const impostor = genesisKeyFromSeed(randomBytes(32));
    const refused = await claim({ genesisKey: impostor, authority: { ...authority, genesisKey: impostor.publicText } }).catch((e) => e);
    expect(refused).to.include({ reason: 'wrong-authority' });
    // Naming the pinned authority but signing with another key does not help.
    const forged = await claim({ genesisKey: impostor }).catch((e) => e);
    expect(forged).to.include({ reason: 'bad-signature' });
    expect(await claim()).to.equal(nodeKey);
  });

  it('a captured claim does not replay on another connection', async () => {
    // A fake node records what the admin sends it...
    const captured = feed<string>();
    const fake = createServer((socket) => {
      const next = lineReader(socket, 8192);
      writeLine(socket, { v: 1, publicKey: nodeKey, nonce: 'a'.repeat(32) });
      next(5000).then((line) => (captured.push(line), writeLine(socket, { ok: true }), socket.end()));
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', () => r()));
    await claimNode({ node: { host: '127.0.0.1', port: (fake.address() as { port: number }).port }, code, genesisKey: key, authority, joinEndpoint: '192.0.2.1:9444', now: Date.now });
    fake.close();
    // ...and plays it to the real node, which chose another nonce.
    await listen();
    const socket = createConnection({ host: '127.0.0.1', port: listener.port });
    const next = lineReader(socket, 8192);
    await next(5000);
    writeLine(socket, JSON.parse(await captured.waitFor(() => true)));
    expect(JSON.parse(await next(5000))).to.include({ ok: false, reason: 'wrong-session' });
    socket.destroy();
    expect(listener.rejected['wrong-session']).to.equal(1);
  });

  it('refuses malformed claims precisely', async () => {
    await listen();
    const socket = createConnection({ host: '127.0.0.1', port: listener.port });
    const next = lineReader(socket, 8192);
    await next(5000);
    socket.write('{"v":1,"claim":"x"}\n');
    expect(JSON.parse(await next(5000))).to.deep.equal({ ok: false, reason: 'malformed', error: "/ missing required property 'signature'; / missing required property 'proof'" });
    socket.destroy();
  });

  // issue 12 item 2: the claim listener against strangers on the LAN.
  const connectFrom = (localAddress: string) =>
    new Promise<Socket>((resolve, reject) => {
      const socket = createConnection({ host: '127.0.0.1', port: listener.port, localAddress });
      socket.once('connect', () => resolve(socket));
      socket.once('error', reject);
    });
  const closed = (socket: Socket) => new Promise<void>((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));

  it('a stream of data after a junk line is cut off, not buffered; the real claim still gets in', async () => {
    await listen();
    const socket = await connectFrom('127.0.0.1');
    socket.on('error', () => undefined);
    socket.write('junk\n');
    // Up to 64 MB, 64 KiB at a time, while the node keeps the connection open.
    const chunk = Buffer.alloc(64 * 1024, 'x');
    let sent = 0;
    const gone = closed(socket);
    let isGone = false;
    void gone.then(() => (isGone = true));
    while (!isGone && sent < 64 * 1024 * 1024) {
      if (!socket.write(chunk)) await Promise.race([new Promise((r) => socket.once('drain', r)), gone]);
      sent += chunk.length;
    }
    expect(isGone, `the node took ${sent} bytes without closing the connection`).to.equal(true);
    expect(listener.rejected.malformed + listener.rejected['too-long']).to.be.greaterThan(0);
    expect(await claim()).to.equal(nodeKey);
  });

  it('16 silent connections (and more from one source) cannot lock out the admin; they are refused and counted', async () => {
    await listen();
    // 16 silent strangers on other loopback addresses, 4 of them per address: all held at first.
    const strangers = await Promise.all(Array.from({ length: 16 }, (_, i) => connectFrom(`127.0.0.${2 + Math.floor(i / 4)}`)));
    for (const s of strangers) s.on('error', () => undefined);
    // A fifth from one address is refused at once.
    const fifth = await connectFrom('127.0.0.2');
    fifth.on('error', () => undefined);
    await closed(fifth);
    expect(listener.rejected.busy).to.equal(1);
    // The admin (127.0.0.1) gets in: the oldest silent stranger makes room.
    expect(await claim()).to.equal(nodeKey);
    expect(listener.rejected.busy).to.equal(2);
    for (const s of strangers) s.destroy();
  });

  it('a connection that says nothing is closed after the idle timeout, counted as idle', async () => {
    listener = await listenForClaim({ host: '127.0.0.1', port: 0, code, nodePublicKey: nodeKey, idleMs: 200 });
    const socket = await connectFrom('127.0.0.1');
    const next = lineReader(socket, 8192);
    await next(5000);
    expect(JSON.parse(await next(5000))).to.include({ ok: false, reason: 'idle' });
    await closed(socket);
    expect(listener.rejected.idle).to.equal(1);
  });

  it('the claimed node pins the authority and joins; the claim pre-approved it', async () => {
    const admin = await loopbackAuthority();
    await admin.start();
    const dir = join(scratchDir('node'), 'hub');
    const lines = feed<string>();
    const joining = joinMesh({
      instanceDir: dir, role: 'cloud-relay', listen: '127.0.0.1:51998', scanWindowMs: 0, beaconPort: 1, beaconFreshnessMs: 60_000,
      claimListen: { host: '127.0.0.1', port: 0 }, pollMs: 50, say: (l) => lines.push(l),
    });
    const printed = await lines.waitFor((l) => l.startsWith('claim code: '));
    const port = Number(/on TCP 127\.0\.0\.1:(\d+)/.exec(await lines.waitFor((l) => l.startsWith('self-genesis')))![1]);
    const pinned = { ...admin.pinned };
    await claimNode({
      node: { host: '127.0.0.1', port }, code: normaliseCode(printed.slice('claim code: '.length)), genesisKey: admin.key, authority: pinned,
      joinEndpoint: `127.0.0.1:${admin.joinEndpoint.port}`, now: Date.now, beforeClaim: (k) => admin.pairing.preapprove(k, 'operator'),
    });
    const { membership } = await joining;
    expect(membership).to.include({ nodeId: 1, address: '10.8.0.1', role: 'cloud-relay', name: 'hub' });
    expect(loadPinnedAuthority(dir)).to.deep.equal(pinned);
    expect(admin.events.items.map((e) => [e.event, e.via])).to.deep.equal([['granted', 'claim']]);
    expect(() => pinAuthority(dir, { ...pinned, genesisKey: randomPublicKey() })).to.throw('already pins another authority');
    await admin.stop();
  });
});
