import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pinAuthority, saveEnrolmentToken, saveGenesisState } from '../../core/genesis/authority-pin.js';
import { joinMesh, JoinRefusedError, type JoinOptions } from '../../core/genesis/join-client.js';
import { JoinAnswerError, joinKeys, JOIN_PATH, MAC_HEADER, newNonce, openAnswer, openRequest, openToken, sealAnswer, sealRequest, sealToken, type JoinRequest } from '../../core/genesis/join.js';
import { loadSecret } from '../../core/membership/instance-files.js';
import { formatKey, generateSecret, publicKeyOf } from '../../core/keys/index.js';
import { scratchDir } from '../support/pipeline.js';
import { feed, freeUdpPort, loopbackAuthority, randomPublicKey, type Feed, type LoopbackAuthority } from './support.js';

describe('join handshake messages', () => {
  const authoritySecret = generateSecret();
  const nodeSecret = generateSecret();
  const nodeKeys = joinKeys(nodeSecret, publicKeyOf(authoritySecret));
  const request = (): JoinRequest => ({ v: 1, publicKey: formatKey(publicKeyOf(nodeSecret)), name: 'edge', role: 'os-infrastructure', listen: '192.0.2.7:51820', at: Date.now(), nonce: newNonce() });

  it('derives the same keys on both sides, and other keys for another authority', () => {
    const authorityKeys = joinKeys(authoritySecret, publicKeyOf(nodeSecret));
    expect(authorityKeys.mac.equals(nodeKeys.mac)).to.equal(true);
    expect(authorityKeys.seal.equals(nodeKeys.seal)).to.equal(true);
    expect(authorityKeys.mac.equals(authorityKeys.seal)).to.equal(false);
    expect(joinKeys(generateSecret(), publicKeyOf(nodeSecret)).mac.equals(nodeKeys.mac)).to.equal(false);
  });

  it('authenticates a request for its public key; any change or another key fails', () => {
    const sealed = sealRequest(nodeKeys, request());
    expect(openRequest(sealed.body, sealed.mac, authoritySecret)).to.include({ ok: true });
    const tampered = Buffer.from(sealed.body.toString().replace('"edge"', '"edgy"'));
    expect(openRequest(tampered, sealed.mac, authoritySecret)).to.include({ ok: false, reason: 'bad-mac' });
    expect(openRequest(sealed.body, undefined, authoritySecret)).to.include({ ok: false, reason: 'bad-mac' });
    // The same request sent to another authority does not authenticate there.
    expect(openRequest(sealed.body, sealed.mac, generateSecret())).to.include({ ok: false, reason: 'bad-mac' });
    // A forger who swaps in its own key cannot keep the MAC.
    const swapped = Buffer.from(sealed.body.toString().replace(formatKey(publicKeyOf(nodeSecret)), randomPublicKey()));
    expect(openRequest(swapped, sealed.mac, authoritySecret)).to.include({ ok: false, reason: 'bad-mac' });
  });

  it('says precisely what is wrong with a malformed request', () => {
    const bad = (body: string) => openRequest(Buffer.from(body), 'x', authoritySecret);
    expect(bad('{')).to.deep.include({ ok: false, reason: 'malformed' });
    expect(bad(JSON.stringify({ ...request(), name: 'Bad Name' }))).to.deep.include({ ok: false, reason: 'malformed' });
    expect((bad(JSON.stringify({ ...request(), extra: 1 })) as { detail: string }).detail).to.match(/unknown property 'extra'/);
    expect((bad(JSON.stringify({ ...request(), publicKey: 'AAAA' })) as { detail: string }).detail).to.match(/publicKey must be 44 characters/);
  });

  it('seals the enrolment token so only the authority opens it', () => {
    const sealed = sealToken(nodeKeys, 'one-time-token');
    expect(sealed).to.not.include('one-time-token');
    expect(openToken(joinKeys(authoritySecret, publicKeyOf(nodeSecret)), sealed)).to.equal('one-time-token');
    expect(openToken(joinKeys(generateSecret(), publicKeyOf(nodeSecret)), sealed)).to.equal(undefined);
  });

  it('the node takes only an answer the pinned authority made for this request', () => {
    const r = request();
    const authorityKeys = joinKeys(authoritySecret, publicKeyOf(nodeSecret));
    const answer = sealAnswer(authorityKeys, { v: 1, nonce: r.nonce, at: Date.now(), status: 'pending', nodeId: 5, code: 'ABCDEFGH' });
    expect(openAnswer(nodeKeys, answer.body, answer.mac, r.nonce)).to.include({ status: 'pending', nodeId: 5 });
    expect(() => openAnswer(nodeKeys, answer.body, answer.mac, newNonce())).to.throw(JoinAnswerError, 'nonce differs');
    const forged = sealAnswer(joinKeys(generateSecret(), publicKeyOf(nodeSecret)), { v: 1, nonce: r.nonce, at: Date.now(), status: 'pending', nodeId: 5, code: 'ABCDEFGH' });
    expect(() => openAnswer(nodeKeys, forged.body, forged.mac, r.nonce)).to.throw(JoinAnswerError, 'not authenticated');
  });
});

describe('join endpoint and first boot on loopback', function () {
  this.timeout(20_000);
  let authority: LoopbackAuthority;
  let beaconPort: number;
  afterEach(async () => authority && (await authority.stop()));

  /** A node instance with the authority pinned (as `ppn provision` leaves it). */
  const provisioned = (token?: string) => {
    const dir = join(scratchDir('node'), 'edge');
    pinAuthority(dir, authority.pinned);
    if (token) saveEnrolmentToken(dir, token);
    return dir;
  };
  const options = (dir: string, lines: Feed<string> = feed()): JoinOptions => ({
    instanceDir: dir,
    role: 'os-infrastructure',
    listen: '127.0.0.1:51999',
    scanWindowMs: 5000,
    beaconPort,
    beaconFreshnessMs: 60_000,
    claimListen: { host: '127.0.0.1', port: 0 },
    pollMs: 50,
    say: (line) => lines.push(line),
  });
  const post = (body: Buffer, mac?: string) =>
    fetch(`http://127.0.0.1:${authority.joinEndpoint.port}${JOIN_PATH}`, { method: 'POST', body, headers: mac ? { [MAC_HEADER]: mac } : {} });

  beforeEach(async () => {
    authority = await loopbackAuthority();
    beaconPort = await freeUdpPort();
  });

  it('a provisioned node with a token hears the beacon, joins, saves its membership and drops the token', async () => {
    await authority.start({ beaconPort });
    const dir = provisioned(authority.pairing.createToken('operator', 60_000));
    const lines = feed<string>();
    const { membership, alreadyJoined } = await joinMesh(options(dir, lines));
    expect(alreadyJoined).to.equal(false);
    expect(membership).to.include({ nodeId: 2, address: '10.8.0.2', name: 'edge', listen: '127.0.0.1:51999' });
    expect(membership.authority).to.deep.equal({ nodeId: 10, address: '10.8.0.10', commandPublicKey: authority.pinned.commandPublicKey });
    expect(membership.peers.map((p) => p.address)).to.deep.equal(['10.8.0.10']);
    expect(JSON.parse(readFileSync(join(dir, 'membership.json'), 'utf8'))).to.deep.equal(membership);
    expect(existsSync(join(dir, 'enrolment.token'))).to.equal(false);
    expect(lines.items.join('\n')).to.match(/beacon from the authority at 127\.0\.0\.1/);
    expect(authority.pairing.registry.node(2)).to.include({ status: 'active', publicKey: formatKey(publicKeyOf(loadSecret(dir, 'identity.key', false))) });
    expect(authority.events.items.map((e) => e.event)).to.deep.equal(['granted']);
    expect((await joinMesh(options(dir))).alreadyJoined).to.equal(true);
  });

  it("a node provisioned with the bundle's join endpoint joins there outbound, without waiting for a beacon (issue 11 item 1)", async () => {
    await authority.start();
    const dir = provisioned(authority.pairing.createToken('operator', 60_000));
    saveGenesisState(dir, { joinEndpoint: `127.0.0.1:${authority.joinEndpoint.port}` });
    const lines = feed<string>();
    // A scan window of ten minutes: only the direct path can finish within the test's time.
    const { membership } = await joinMesh({ ...options(dir, lines), scanWindowMs: 600_000 });
    expect(membership).to.include({ name: 'edge', listen: '127.0.0.1:51999' });
    expect(lines.items.some((l) => l.startsWith("listening for the authority's beacon"))).to.equal(false);
  });

  it('waits while pending, showing the join code, and is granted once approved', async () => {
    await authority.start({ beaconPort });
    const dir = provisioned();
    const lines = feed<string>();
    const joining = joinMesh(options(dir, lines));
    const pending = await authority.events.waitFor((e) => e.event === 'pending');
    expect(pending).to.include({ nodeId: 2, name: 'edge' });
    await lines.waitFor((l) => l.includes(pending.code!));
    authority.pairing.approve(2, 'operator');
    expect((await joining).membership.nodeId).to.equal(2);
  });

  it('the admin restarted mid-join: the node keeps asking and gets the same id, no duplicate', async () => {
    await authority.start({ beaconPort });
    const dir = provisioned();
    const lines = feed<string>();
    const joining = joinMesh(options(dir, lines));
    await authority.events.waitFor((e) => e.event === 'pending');
    await authority.stop();
    await lines.waitFor((l) => /ECONNREFUSED/.test(l));
    await authority.start();
    authority.pairing.approve(2, 'operator');
    const { membership } = await joining;
    expect(membership.nodeId).to.equal(2);
    expect(authority.pairing.registry.nodes().map((n) => n.id)).to.deep.equal([2, 10]);
  });

  it('two nodes joining at once get different addresses', async () => {
    await authority.start({ beaconPort, auto: true });
    const a = join(scratchDir('node'), 'alpha');
    const b = join(scratchDir('node'), 'beta');
    for (const d of [a, b]) pinAuthority(d, authority.pinned);
    const [ma, mb] = await Promise.all([joinMesh(options(a)), joinMesh(options(b))]);
    expect(new Set([ma.membership.address, mb.membership.address]).size).to.equal(2);
    expect(authority.pairing.registry.nodes()).to.have.length(3);
  });

  it('refuses when the address pool is exhausted; the node says why', async () => {
    await authority.start({ beaconPort, auto: true });
    for (let id = 2; id <= 254; id++) {
      if (id === 10) continue;
      authority.pairing.registry.upsertNode({ id, name: `n${id}`, aliases: [], address: `10.8.0.${id}`, role: 'os-infrastructure', groups: [], takesCommands: true, publicKey: randomPublicKey(), status: 'active' }, 'test');
    }
    const dir = provisioned();
    const error = await joinMesh(options(dir)).catch((e) => e);
    expect(error).to.be.instanceOf(JoinRefusedError);
    expect(error.message).to.match(/address pool is exhausted/);
    expect(existsSync(join(dir, 'membership.json'))).to.equal(false);
    expect(authority.counts.get('join-refused.pool-exhausted')).to.equal(1);
  });

  it('rejects forged, malformed and replayed join requests and counts them; nothing changes', async () => {
    await authority.start();
    const secret = generateSecret();
    const keys = joinKeys(secret, publicKeyOf(authority.commandSecret));
    const request: JoinRequest = { v: 1, publicKey: formatKey(publicKeyOf(secret)), name: 'edge', role: 'os-infrastructure', listen: '127.0.0.1:51999', at: Date.now(), nonce: newNonce() };
    const sealed = sealRequest(keys, request);

    const unauthenticated = await post(sealed.body);
    expect(unauthenticated.status).to.equal(401);
    expect(await unauthenticated.json()).to.deep.equal({ error: 'the ppn-mac header does not authenticate this request for its public key' });
    const forged = sealRequest(joinKeys(generateSecret(), publicKeyOf(authority.commandSecret)), request);
    expect((await post(forged.body, forged.mac)).status).to.equal(401);
    expect((await post(Buffer.from('{"v":1'), 'x')).status).to.equal(400);
    expect(authority.pairing.registry.nodes()).to.have.length(1);

    const first = await post(sealed.body, sealed.mac);
    expect(first.status).to.equal(202);
    const replay = await post(sealed.body, sealed.mac);
    expect(replay.status).to.equal(409);
    const answer = openAnswer(keys, Buffer.from(await replay.arrayBuffer()), replay.headers.get(MAC_HEADER) ?? undefined, request.nonce);
    expect(answer).to.include({ status: 'refused', refusal: 'replayed' });

    const stale = sealRequest(keys, { ...request, nonce: newNonce(), at: Date.now() - 3_600_000 });
    const staleAnswer = await post(stale.body, stale.mac);
    expect(staleAnswer.status).to.equal(409);
    expect(Object.fromEntries(authority.counts)).to.include({ 'join-rejected.bad-mac': 2, 'join-rejected.malformed': 1, 'join-refused.replayed': 1, 'join-refused.stale': 1, 'join-pending': 1 });
    expect(authority.pairing.registry.nodes()).to.have.length(2);
  });

  it("a node whose time is off the authority's corrects it from the authenticated answer", async () => {
    // The join endpoint's clock is an hour ahead of its beacon's (and the node's).
    await authority.start({ beaconPort, auto: true, clockSkewMs: 3_600_000 });
    const { membership } = await joinMesh(options(provisioned()));
    expect(membership.nodeId).to.equal(2);
    expect(authority.counts.get('join-refused.stale')).to.equal(1);
  });
});
