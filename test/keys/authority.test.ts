// The authority's keys rotate by a signed hand-over (core/genesis/handover.ts): its bytes and
// checks, then over the real path (authority-rig.ts: userspace WireGuard on loopback UDP, the
// real sync pusher and hand-over log, the node's shipped pipeline): a genesis-key hand-over is
// pinned, updates of the old key are taken during the overlap (also after a restart) and refused
// after it; forged, replayed, malformed and already-pinned hand-overs change nothing; a
// command-key hand-over moves the node to its next epoch on the new key while the old epoch
// stays accepted until the overlap ends.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { rotateAuthorityKeys } from '../../core/genesis/authority-keys.js';
import { switchIfDue } from '../../core/registry/authority-command-keys.js';
import { retiredKeyFile } from '../../core/registry/authority-handovers.js';
import { pinAfterHandover, pinnedGenesisCheck, type PinnedAuthority } from '../../core/genesis/authority-pin.js';
import { checkHandover, encodeHandover, HANDOVER_BYTES, HANDOVER_WITH_GENESIS_BYTES, parseHandover } from '../../core/genesis/handover.js';
import { genesisKeyFromSeed, loadGenesisKey } from '../../core/genesis/signing-key.js';
import { encodeUpdate } from '../../core/genesis/sync.js';
import { formatKey, generateSecret, publicKeyOf } from '../../core/keys/index.js';
import { loadSecret } from '../../core/membership/instance-files.js';
import { authorityRig, EDGE_ID, type AuthorityRig } from './authority-rig.js';

const genesis = () => genesisKeyFromSeed(randomBytes(32));

describe('authority key hand-over: the message', () => {
  const from = genesis();
  const next = genesis();
  const command = publicKeyOf(generateSecret());
  const pinned = { genesisKey: from.publicText, commandPublicKey: formatKey(publicKeyOf(generateSecret())), handover: 0 };
  const both = encodeHandover({ number: 1, issuedAt: 1_700_000_000_000, overlapSeconds: 60, newGenesisKey: next.publicKey, newCommandKey: command }, from, next);

  it('round-trips, with the counter-signature exactly when the genesis key changes', () => {
    expect(both.length).to.equal(HANDOVER_WITH_GENESIS_BYTES);
    const parsed = parseHandover(both);
    expect(parsed.ok && parsed.handover).to.deep.include({ number: 1, issuedAt: 1_700_000_000_000, overlapSeconds: 60 });
    expect(checkHandover(both, pinned)).to.deep.include({ ok: true });
    const commandOnly = encodeHandover({ number: 1, issuedAt: 1, overlapSeconds: 60, newCommandKey: command }, from);
    expect(commandOnly.length).to.equal(HANDOVER_BYTES);
    expect(checkHandover(commandOnly, pinned).ok).to.equal(true);
  });

  it('refuses what the pinned key did not sign, what the new key did not counter-sign, what is old, malformed or pinned already', () => {
    const reasonOf = (bytes: Uint8Array, pin = pinned) => {
      const r = checkHandover(bytes, pin);
      return r.ok ? 'ok' : r.reason;
    };
    const other = genesis();
    expect(reasonOf(encodeHandover({ number: 2, issuedAt: 1, overlapSeconds: 60, newCommandKey: command }, other))).to.equal('forged');
    const badSignature = Buffer.from(both);
    badSignature[120] ^= 1;
    expect(reasonOf(badSignature)).to.equal('forged');
    const badCounter = Buffer.from(both);
    badCounter[HANDOVER_BYTES + 3] ^= 1;
    expect(checkHandover(badCounter, pinned)).to.deep.include({ reason: 'forged', detail: 'the new genesis key did not counter-sign it' });
    expect(reasonOf(both, { ...pinned, handover: 1 })).to.equal('current');
    expect(reasonOf(both, { ...pinned, handover: 2 })).to.equal('old');
    expect(reasonOf(both.subarray(0, 100))).to.equal('malformed');
    expect(reasonOf(Buffer.concat([both, Buffer.alloc(1)]))).to.equal('malformed');
    for (const [at, value] of [[0, 0x02], [1, 2], [2, 0], [2, 4], [2, 2]] as const) {
      const bad = Buffer.from(both);
      bad[at] = value;
      expect(reasonOf(bad), `byte ${at} = ${value}`).to.equal('malformed');
    }
    const same = encodeHandover({ number: 2, issuedAt: 1, overlapSeconds: 60, newCommandKey: Buffer.from(pinned.commandPublicKey, 'base64') }, from);
    expect(reasonOf(same)).to.equal('already-pinned');
  });

  it('the pin keeps the replaced genesis key until the overlap ends, then refuses its signatures as previous-key-ended', () => {
    const pin: PinnedAuthority = { genesisKey: from.publicText, commandPublicKey: pinned.commandPublicKey, nodeId: 10, address: '10.8.0.10' };
    const parsed = parseHandover(both);
    if (!parsed.ok) throw new Error(parsed.detail);
    const after = pinAfterHandover(pin, parsed.handover, 1_000, 0);
    expect(after).to.deep.include({ genesisKey: next.publicText, commandPublicKey: formatKey(command), handover: 1 });
    expect(after.previous).to.deep.equal({ genesis: { key: from.publicText, until: 61_000 }, command: { key: pin.commandPublicKey, until: 61_000, epoch: 0 } });
    let now = 60_999;
    const check = pinnedGenesisCheck(() => after, () => now);
    const message = Buffer.from('an update');
    expect(check(message, next.sign(message))).to.deep.equal({ ok: true, previous: false });
    expect(check(message, from.sign(message))).to.deep.equal({ ok: true, previous: true });
    expect(check(message, other().sign(message))).to.deep.include({ ok: false, reason: 'forged' });
    now = 61_000;
    expect(check(message, from.sign(message))).to.deep.include({ ok: false, reason: 'previous-key-ended' });
    function other() {
      return genesis();
    }
  });
});

describe('authority key hand-over over the real path (userspace WireGuard, real UDP, real SQLite)', function () {
  this.timeout(60_000);
  let rig: AuthorityRig;
  afterEach(async () => rig?.close());

  const counters = () => rig.host().status().stages.sync.counters as Record<string, number>;
  const verifierOf = () => rig.host().status().stages.verifier.details as { epoch: number; previousEpoch: number | null; rejected: Record<string, number> };
  /** The edge's first log line that matches; the error names what was awaited and the last lines. */
  const logged = (what: string, match: (r: Record<string, unknown>) => boolean) =>
    rig.logs.waitFor(match).catch(() => {
      const stages = Object.fromEntries(Object.entries(rig.host().status().stages).map(([id, st]) => [id, { counters: st.counters, details: st.details }]));
      throw new Error(`no '${what}' in the edge's log; its stages: ${JSON.stringify(stages)}; its last lines:\n${rig.logs.items.slice(-12).map((r) => JSON.stringify({ ...r, time: undefined, pid: undefined, hostname: undefined, node: undefined })).join('\n')}`);
    });
  const applied = (seq: number) => logged(`membership ${seq} applied`, (r) => r.msg === 'membership updated' && r.seq === seq);
  const handled = (counter: bigint) => logged(`command ${counter} handled`, (r) => r.msg === 'command handled' && r.counter === String(counter));
  /** Resolves once the sync stage has counted `what` `n` times in all. */
  const counted = async (what: string, n = 1) => {
    while ((counters()[what] ?? 0) < n) await new Promise((r) => setImmediate(r));
  };

  it('genesis key: pinned on the hand-over, the old key taken during the overlap (also after a restart) and refused after; bad hand-overs change nothing', async () => {
    rig = await authorityRig({ epochOverlapMs: 60_000 });
    await applied(1);
    const old = loadGenesisKey(rig.adminDir, false);
    const h = rotateAuthorityKeys(rig.adminDir, rig.registry, { genesis: true, command: false, overlapSeconds: 4, actor: 'test' });
    expect(h.number).to.equal(1);
    expect(rig.key.publicText, 'the admin signs with the new key at once').to.equal(h.genesisKey);
    expect(loadSecret(rig.adminDir, retiredKeyFile('genesis.key', 1), false)).to.have.length(32);
    rig.pusher.refresh();
    await logged('hand-over taken', (r) => r.msg === 'authority keys handed over');
    await applied(2); // the membership again, signed with the new key
    expect(rig.pin()).to.deep.include({ genesisKey: h.genesisKey, handover: 1 });
    expect(rig.pin().previous?.genesis?.key).to.equal(old.publicText);
    expect(rig.registry.auditLog(5).some((a) => a.action === 'authority.handover' && a.detail.number === 1)).to.equal(true);

    // An update signed with the old genesis key is still taken during the overlap.
    const membership = rig.membership();
    rig.toSync(encodeUpdate(old, { seq: 3, nodeId: EDGE_ID, membership: { ...membership, name: 'edge' } })[0]);
    await applied(3);

    // Forged, replayed, malformed and already-pinned hand-overs change nothing and are counted.
    const pinBefore = readFileSync(join(rig.edgeDir, 'authority.json'), 'utf8');
    const intruder = genesis();
    rig.toSync(encodeHandover({ number: 2, issuedAt: Date.now(), overlapSeconds: 60, newGenesisKey: intruder.publicKey }, intruder, intruder));
    await counted('refused.handover-forged');
    rig.toSync(encodeHandover({ number: 2, issuedAt: Date.now(), overlapSeconds: 60, newGenesisKey: intruder.publicKey }, old, intruder)); // the replaced key
    await counted('refused.handover-forged', 2);
    rig.toSync(h.message.subarray(0, 150));
    rig.toSync(Buffer.concat([Buffer.from([0x48, 9]), h.message.subarray(2)]));
    await counted('refused.handover-malformed', 2);
    rig.toSync(encodeHandover({ number: 2, issuedAt: Date.now(), overlapSeconds: 60, newCommandKey: Buffer.from(rig.pin().commandPublicKey, 'base64') }, rig.key));
    await counted('refused.handover-already-pinned');
    rig.toSync(h.message);
    await counted('handover-current');
    expect(readFileSync(join(rig.edgeDir, 'authority.json'), 'utf8')).to.equal(pinBefore);

    // A later hand-over (the command key), then the first one again: old, counted, nothing changes.
    const second = rotateAuthorityKeys(rig.adminDir, rig.registry, { genesis: false, command: true, overlapSeconds: 4, actor: 'test' });
    rig.pusher.refresh();
    await logged('hand-over 2 taken', (r) => r.msg === 'authority keys handed over' && r.handover === 2);
    rig.toSync(h.message);
    await counted('handover-old');
    expect(rig.pin()).to.deep.include({ handover: 2, commandPublicKey: second.commandPublicKey, genesisKey: h.genesisKey });

    // A restart within the overlap keeps both pins: the old key's update is still taken.
    await rig.restartEdge();
    expect(rig.pin().previous?.genesis?.key).to.equal(old.publicText);
    rig.toSync(encodeUpdate(old, { seq: 10, nodeId: EDGE_ID, membership: rig.membership() })[0]);
    await applied(10);

    // After the overlap, the old key's update is refused: counted, nothing changed.
    const until = rig.pin().previous!.genesis!.until;
    await new Promise((r) => setTimeout(r, Math.max(0, until - Date.now() + 50)));
    rig.toSync(encodeUpdate(old, { seq: 11, nodeId: EDGE_ID, membership: { ...rig.membership(), groups: [] } })[0]);
    await counted('refused.previous-key-ended');
    expect(rig.membership().groups).to.deep.equal([1]);
    // The admin deletes the replaced keys once the overlap is over.
    const { retireEndedKeys } = await import('../../core/genesis/authority-keys.js');
    expect(retireEndedKeys(rig.adminDir, rig.log, Date.now())).to.include(1);
    expect(() => loadSecret(rig.adminDir, retiredKeyFile('genesis.key', 1), false)).to.throw(/missing/);
  });

  it('command key: the node moves to its next epoch on the new key; the old epoch is taken until the switch and its overlap, refused after', async () => {
    rig = await authorityRig({ epochOverlapMs: 1_000 });
    await applied(1);
    const before = rig.command(0);
    await handled(before);
    const oldSecret = loadSecret(rig.adminDir, 'command.key', false);
    const h = rotateAuthorityKeys(rig.adminDir, rig.registry, { genesis: false, command: true, overlapSeconds: 6, actor: 'test' });
    expect(loadSecret(rig.adminDir, retiredKeyFile('command.key', 1), false)).to.deep.equal(oldSecret);
    rig.pusher.refresh();
    await logged('hand-over taken', (r) => r.msg === 'authority keys handed over');
    // Node first: epoch 1 on the new key; epoch 0 kept on the old one, without a deadline yet.
    await logged('epoch 1', (r) => r.msg === 'command key epoch changed' && r.to === 1);
    expect(rig.membership()).to.deep.include({ epoch: 1 });
    expect(rig.pin().previous?.command).to.deep.include({ epoch: 0, key: formatKey(publicKeyOf(oldSecret)) });
    // The admin still signs under epoch 0 on the old key (no switch yet), and its membership still
    // names the old key: the node keeps epoch 1 and takes both.
    expect(rig.commandKeys.secretFor(EDGE_ID, 0)).to.deep.equal(oldSecret);
    // ...but takes what the node signs under epoch 1 (its heartbeats) on the new key.
    expect(rig.commandKeys.secretFor(EDGE_ID, 1)).to.deep.equal(loadSecret(rig.adminDir, 'command.key', false));
    await applied(2);
    expect(rig.membership()).to.deep.include({ epoch: 1 });
    await handled(rig.command(0));
    await handled(rig.command(1, loadSecret(rig.adminDir, 'command.key', false)));
    // A restart before the switch keeps epoch 0 on the old key.
    await rig.restartEdge();
    await handled(rig.command(0));

    // The switch: the registry moves the node to epoch 1 and the admin names the new key.
    expect(switchIfDue(rig.commandKeys, rig.registry, { authorityId: 10, authorityEpoch: 0, now: h.switchAt - 1 })).to.equal(undefined);
    expect(switchIfDue(rig.commandKeys, rig.registry, { authorityId: 10, authorityEpoch: 0, now: h.switchAt })).to.equal(1);
    expect(rig.registry.node(EDGE_ID)?.keyEpoch).to.equal(1);
    expect(rig.commandKeys.secretFor(EDGE_ID, 0)).to.deep.equal(oldSecret);
    expect(rig.commandKeys.secretFor(EDGE_ID, 1)).to.deep.equal(loadSecret(rig.adminDir, 'command.key', false));
    rig.authority.commandPublicKey = rig.commandKeys.signingPublic();
    expect(rig.authority.commandPublicKey).to.equal(h.commandPublicKey);
    const previousRejected = verifierOf().rejected['no-key'] ?? 0;
    rig.pusher.refresh();
    await applied(3);
    // An old-epoch command already on its way is taken within the verifier's overlap...
    await handled(rig.command(0));
    // ...and refused once it is over.
    while (verifierOf().previousEpoch !== null) await new Promise((r) => setTimeout(r, 50));
    rig.command(0);
    const next = rig.command(1);
    await handled(next);
    expect(verifierOf().rejected['no-key']).to.equal(previousRejected + 1);
    expect(rig.logs.items.filter((r) => r.msg === 'command handled').map((r) => r.counter)).to.not.include(String(next - 1n));
  });
});
