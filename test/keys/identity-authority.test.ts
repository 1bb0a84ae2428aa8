// The authority's side of an identity change: telemetry-ingress over a real registry (SQLite)
// takes a node's identity-change request, records the new key (audited, old → new), moves the
// node to the next epoch bound to it, and keeps verifying the node's messages of the epoch it
// left with the old key until that overlap ends. Every bad request is refused with its reason,
// counted, and changes nothing.
import { expect } from 'chai';
import telemetryIngress from '../../plugins/telemetry-ingress/index.js';
import { createAckSigner, createIdentityChangeSigner, formatKey, MESH, NODE, publicKeyOf, REGISTRY, TELEMETRY_PORT } from '../../core/sdk/index.js';
import { fakeMesh, startStage, type FakeMesh, type StageKit } from '../../core/sdk/testing.js';
import { createHmac } from 'node:crypto';
import { generateSecret } from '../../core/keys/index.js';
import { createNodeEpochKeys } from '../../core/protocol/epoch-keys.js';
import { acksTaken, NODE_ADDRESS, NODE_ID, world, type World } from '../plugins/support.js';

describe('identity key: the authority records a change', () => {
  let w: World;
  let mesh: FakeMesh;
  let kit: StageKit;
  const from = { address: NODE_ADDRESS, port: 40001 };
  const authorityPublic = () => publicKeyOf(w.authority.commandSecret);
  const request = (epoch: number, newSecret: Uint8Array, oldSecret = w.node.secret, nodeId = NODE_ID) =>
    createIdentityChangeSigner({ nodeSecret: oldSecret, authorityPublic: authorityPublic(), nodeId }).encode(epoch, newSecret);
  const ack = (epoch: number, counter: bigint, secret: Uint8Array) =>
    createAckSigner({ nodeSecret: secret, authorityPublic: authorityPublic(), nodeId: NODE_ID }).encode({ epoch, counter, status: 'executed' });
  const snapshot = () => {
    const n = w.registry.node(NODE_ID)!;
    return { publicKey: n.publicKey, keyEpoch: n.keyEpoch, status: n.status, audit: w.registry.auditLog(100).length };
  };

  const start = async (identityOverlapMs: number) => {
    kit = await startStage(telemetryIngress, { config: { logPerMinute: 20, identityOverlapMs }, services: { [MESH]: mesh, [NODE]: w.adminIdentity, [REGISTRY]: w.registry } });
  };
  beforeEach(() => {
    w = world();
    mesh = fakeMesh();
  });
  afterEach(async () => {
    await kit?.close();
    w.cleanup();
  });

  it('records the new key and moves the node to epoch 1 bound to it; the old key verifies epoch 0 until the overlap ends', async () => {
    await start(200);
    const oldKey = formatKey(publicKeyOf(w.node.secret));
    const newSecret = generateSecret();
    const newKey = formatKey(publicKeyOf(newSecret));
    mesh.deliver(TELEMETRY_PORT, request(0, newSecret), from);
    expect(w.registry.node(NODE_ID)).to.deep.include({ publicKey: newKey, keyEpoch: 1 });
    const [epochMove, identity] = w.registry.auditLog(2);
    expect(identity).to.deep.include({ actor: 'node:3', action: 'node.identity-key' });
    expect(identity.detail).to.deep.include({ id: 3, from: oldKey, to: newKey, epoch: 0 });
    expect(epochMove).to.deep.include({ action: 'node.key-epoch' });
    expect(epochMove.detail).to.deep.include({ from: 0, to: 1 });
    expect([w.registry.publicKeyFor(NODE_ID, 0), w.registry.publicKeyFor(NODE_ID, 1)]).to.deep.equal([oldKey, newKey]);
    // Repeated until the confirmation reaches the node: counted, nothing changes.
    const before = snapshot();
    mesh.deliver(TELEMETRY_PORT, request(0, newSecret), from);
    expect(snapshot()).to.deep.equal(before);
    // Acks of epoch 0 (commands signed before the move) still verify with the old key, epoch 1's with the new.
    for (const [epoch, counter, secret] of [[0, 7n, w.node.secret], [1, 8n, newSecret]] as const) {
      w.registry.recordCommand({
        id: `c${epoch}-${counter}`, at: new Date().toISOString(), actor: 'operator', text: 'ping leased', intent: 'ping', opcode: 1, arg: 0, target: 'leased', selector: 3,
        epoch, counter: String(counter), deadline: Date.now() + 60_000, targets: [{ nodeId: 3, name: 'leased', address: NODE_ADDRESS, packet: (0x40 | epoch).toString(16) }],
      });
      mesh.deliver(TELEMETRY_PORT, ack(epoch, counter, secret), from);
      await acksTaken();
      expect(w.registry.command(`c${epoch}-${counter}`)!.targets[0].status).to.equal('executed');
    }
    expect(kit.counts()).to.deep.equal({ 'identity-changed': 1, 'identity-change-repeated': 1, acks: 2 });
    // After the overlap the old key verifies nothing: epoch 0 is on the new key too.
    // No event says a deadline passed: looked at every 10 ms.
    while (w.registry.publicKeyFor(NODE_ID, 0) !== newKey) await new Promise((r) => setTimeout(r, 10));
    mesh.deliver(TELEMETRY_PORT, ack(0, 9n, w.node.secret), from);
    await acksTaken();
    expect(kit.counts()['ack-rejected.tag']).to.equal(1);
  });

  it('takes a request from the epoch before the node\'s: a rotate-keys it executed meanwhile moved it there first', async () => {
    await start(60_000);
    // The node executed rotate-keys (signed under 0) after sending its request; the ack came first.
    w.registry.recordCommand({
      id: 'c0-1', at: new Date().toISOString(), actor: 'operator', text: 'rotate keys on leased', intent: 'rotate-keys', opcode: 6, arg: 0, target: 'leased', selector: 3,
      epoch: 0, counter: '1', deadline: Date.now() + 60_000, targets: [{ nodeId: 3, name: 'leased', address: NODE_ADDRESS, packet: '40' }],
    });
    mesh.deliver(TELEMETRY_PORT, ack(0, 1n, w.node.secret), from);
    await acksTaken();
    expect(w.registry.node(NODE_ID)!.keyEpoch).to.equal(1);
    const oldKey = formatKey(publicKeyOf(w.node.secret));
    const newSecret = generateSecret();
    mesh.deliver(TELEMETRY_PORT, request(0, newSecret), from);
    const newKey = formatKey(publicKeyOf(newSecret));
    expect(w.registry.node(NODE_ID)).to.deep.include({ publicKey: newKey, keyEpoch: 1 });
    expect([w.registry.publicKeyFor(NODE_ID, 0), w.registry.publicKeyFor(NODE_ID, 1)]).to.deep.equal([oldKey, newKey]);
    expect(w.registry.auditLog(1)[0]).to.deep.include({ action: 'node.identity-key' });
    // Epoch 0 stays on the old key for the overlap: a request tagged under the new key for it is refused.
    mesh.deliver(TELEMETRY_PORT, request(0, generateSecret(), newSecret), from);
    expect(kit.counts()).to.deep.include({ 'identity-changed': 1, 'identity-change-rejected.tag': 1 });
  });

  it('refuses each bad request with its reason, counted, changing nothing', async () => {
    await start(60_000);
    const other = generateSecret();
    w.registry.upsertNode({ id: 4, name: 'onprem', aliases: [], address: '10.8.0.4', role: 'os-infrastructure', groups: [], takesCommands: true, publicKey: formatKey(publicKeyOf(other)), status: 'active' }, 'test');
    const revoked = generateSecret();
    w.registry.upsertNode({ id: 5, name: 'gone', aliases: [], address: '10.8.0.5', role: 'os-infrastructure', groups: [], takesCommands: true, publicKey: formatKey(publicKeyOf(revoked)), status: 'revoked' }, 'test');
    const before = snapshot();
    const good = request(0, generateSecret());
    const wrongTag = Buffer.from(good);
    wrongTag[66] ^= 1;
    // Tagged honestly under the node's key, but the new key is not the one proved.
    const wrongProof = Buffer.from(good);
    publicKeyOf(generateSecret()).copy(wrongProof, 3);
    const telemetryKey = createNodeEpochKeys({ nodeSecret: w.node.secret, authorityPublic: authorityPublic() }).hmacKey('telemetry', 0, NODE_ID);
    createHmac('sha256', telemetryKey).update(wrongProof.subarray(0, 51)).digest().copy(wrongProof, 51, 0, 16);
    const cases: [string, Buffer, typeof from][] = [
      ['length', good.subarray(0, 60), from],
      ['tag', wrongTag, from],
      ['tag', request(0, generateSecret(), generateSecret()), from],
      ['proof', wrongProof, from],
      ['unknown-node', request(0, generateSecret(), generateSecret(), 9), { address: '10.8.0.9', port: 1 }],
      ['node-revoked', request(0, generateSecret(), revoked, 5), { address: '10.8.0.5', port: 1 }],
      ['wrong-source', good, { address: '10.8.0.4', port: 40001 }],
      ['not-current-epoch', request(2, generateSecret()), from],
      // Another node's key: only its holder could prove it, so the request is made with it.
      ['key-in-use', request(0, other), from],
    ];
    for (const [, datagram, source] of cases) mesh.deliver(TELEMETRY_PORT, datagram, source);
    expect(snapshot()).to.deep.equal(before);
    const expected: Record<string, number> = {};
    for (const [reason] of cases) expected[`identity-change-rejected.${reason}`] = (expected[`identity-change-rejected.${reason}`] ?? 0) + 1;
    expect(kit.counts()).to.deep.equal(expected);
    // A key a node has replaced is never taken again, by any node.
    const oldSecret = w.node.secret;
    const next = generateSecret();
    mesh.deliver(TELEMETRY_PORT, request(0, next), from);
    expect(w.registry.node(NODE_ID)!.publicKey).to.equal(formatKey(publicKeyOf(next)));
    mesh.deliver(TELEMETRY_PORT, request(0, oldSecret, other, 4), { address: '10.8.0.4', port: 1 });
    expect(kit.counts()['identity-change-rejected.key-in-use']).to.equal(2);
    expect(w.registry.node(4)!.publicKey).to.equal(formatKey(publicKeyOf(other)));
  });
});
