// A node's identity change between real parts in one process: the node's identity files and
// epoch keys (identity-keys.ts), its rotation (identity-rotation.ts) on a real userspace
// WireGuard device, its verifier stage over its real state database, and the admin's
// telemetry-ingress over the real registry (SQLite). The authority's membership update is stood
// in for by applying the registry's epoch and key to the node's store on the next turn (the
// sync pusher and membership-updates are tested in test/genesis; the whole path in
// identity-local-mesh). Also: every step survives a restart, and nothing is accepted under the
// old key once the overlap is over.
import { expect } from 'chai';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import verifierStage from '../../plugins/verifier/index.js';
import telemetryIngress from '../../plugins/telemetry-ingress/index.js';
import { formatKey, parseKey, publicKeyOf } from '../../core/keys/index.js';
import { IDENTITY_FILE, openIdentityKeys, PENDING_IDENTITY_FILE, PREVIOUS_IDENTITY_FILE, type IdentityKeys } from '../../core/node/identity-keys.js';
import { startIdentityRotation, type IdentityRotation } from '../../core/node/identity-rotation.js';
import { createSigner } from '../../core/protocol/signer.js';
import { MESH, NODE, REGISTRY, TELEMETRY_PORT, type NodeIdentity } from '../../core/sdk/index.js';
import { fakeMesh, startStage, type StageKit } from '../../core/sdk/testing.js';
import { createDevice, type Device } from '../../core/wireguard/device.js';
import { AUTHORITY_ADDRESS, NODE_ADDRESS, NODE_ID, tapped, world, type World } from '../plugins/support.js';

const OVERLAP_MS = 300;

/** Resolves once `condition` holds, looking every 5 ms (a deadline passing announces nothing). */
async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('identity key: the node changes it', () => {
  let w: World;
  let dir: string;
  const open = (confirmedKey?: string, now?: number) =>
    openIdentityKeys(dir, { authorityPublic: publicKeyOf(w.authority.commandSecret), confirmedKey, overlapMs: OVERLAP_MS, now });
  const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(b);
  beforeEach(() => {
    w = world();
    dir = w.nodeIdentity.instanceDir;
    writeFileSync(join(dir, IDENTITY_FILE), `${formatKey(w.node.secret)}\n`, { mode: 0o600 });
  });
  afterEach(() => w.cleanup());

  it('keeps every step across a restart: pending until confirmed, then the replaced key bound to the epoch left until the overlap ends', () => {
    const old = w.node.secret;
    const begun = open().begin(0, 1);
    const modeOf = (name: string) => statSync(join(dir, name)).mode & 0o777;
    expect(modeOf(PENDING_IDENTITY_FILE)).to.equal(0o600);
    // Restarted before the authority answered: still pending, epoch 1 on the new key, 0 on the old.
    let identity: IdentityKeys = open();
    expect(identity.pending?.publicKey).to.equal(begun.publicKey);
    expect(same(identity.secret, old)).to.equal(true);
    expect(same(identity.keys.pairOf(1).nodeSecret, begun.secret) && same(identity.keys.pairOf(0).nodeSecret, old)).to.equal(true);
    // Restarted after the membership named the new key, before the node could take it: taken at start.
    const now = Date.now();
    identity = open(begun.publicKey, now);
    expect([identity.publicKey, identity.pending, identity.previous?.epoch]).to.deep.equal([begun.publicKey, undefined, 0]);
    expect(existsSync(join(dir, PENDING_IDENTITY_FILE))).to.equal(false);
    expect([modeOf(IDENTITY_FILE), modeOf(PREVIOUS_IDENTITY_FILE)]).to.deep.equal([0o600, 0o600]);
    expect(same(identity.keys.pairOf(0).nodeSecret, old) && same(identity.keys.pairOf(1).nodeSecret, begun.secret) && same(identity.keys.pairOf(7).nodeSecret, begun.secret)).to.equal(true);
    // Restarted within the overlap: the same; after it: the replaced key is gone for good.
    identity = open(begun.publicKey, now + OVERLAP_MS - 1);
    expect(identity.previous?.publicKey).to.equal(formatKey(publicKeyOf(old)));
    identity = open(begun.publicKey, now + OVERLAP_MS + 1);
    expect([identity.previous, identity.keys.bound(), existsSync(join(dir, PREVIOUS_IDENTITY_FILE))]).to.deep.equal([undefined, [], false]);
    expect(same(identity.keys.pairOf(0).nodeSecret, begun.secret)).to.equal(true);
  });

  it('finishes a confirmation a crash interrupted between its steps', () => {
    const begun = open().begin(4, 5);
    // The replaced key was saved and identity.key replaced, but pending was not yet removed.
    writeFileSync(join(dir, IDENTITY_FILE), `${formatKey(begun.secret)}\n`, { mode: 0o600 });
    const identity = open();
    expect([identity.publicKey, identity.pending]).to.deep.equal([begun.publicKey, undefined]);
    expect(existsSync(join(dir, PENDING_IDENTITY_FILE))).to.equal(false);
  });

  describe('with the verifier and the authority', () => {
    let identity: IdentityKeys;
    let rotation: IdentityRotation;
    let device: Device;
    let verifier: StageKit;
    let ingress: StageKit;
    let stopSync: () => void;
    const logged: string[] = [];
    let counter = 0n;
    const counters = { next: () => ++counter };
    afterEach(async () => {
      stopSync();
      rotation.close();
      await verifier.close();
      await ingress.close();
      await device.close();
    });

    let nodeMesh: ReturnType<typeof fakeMesh>;
    const startRotation = () =>
      startIdentityRotation({
        identity, membershipStore: w.nodeIdentity.membershipStore, mesh: nodeMesh, device, isAuthority: false,
        resendMs: 50, overlapMs: OVERLAP_MS, logger: pino({ level: 'info' }, { write: (line: string) => void logged.push(line) }), count: () => {},
      });
    const start = async () => {
      identity = open();
      const node: NodeIdentity = { ...w.nodeIdentity, keys: identity.keys };
      const adminMesh = fakeMesh(AUTHORITY_ADDRESS);
      nodeMesh = tapped(fakeMesh(NODE_ADDRESS), (port, payload) => {
        if (port === TELEMETRY_PORT) setImmediate(() => adminMesh.deliver(TELEMETRY_PORT, payload, { address: NODE_ADDRESS, port: 40001 }));
      });
      ingress = await startStage(telemetryIngress, { config: { identityOverlapMs: 60_000 }, services: { [MESH]: adminMesh, [NODE]: w.adminIdentity, [REGISTRY]: w.registry } });
      verifier = await startStage(verifierStage, { config: { epochOverlapMs: OVERLAP_MS }, services: { [NODE]: node, [MESH]: nodeMesh } });
      device = await createDevice({ privateKey: identity.secret, address: NODE_ADDRESS, bindAddress: '127.0.0.1' });
      rotation = await startRotation();
      // The authority's membership update, on the next turn after the registry moved the node.
      stopSync = w.registry.onChange((e) => {
        if (e.type !== 'node') return;
        const n = w.registry.node(NODE_ID)!;
        setImmediate(() => w.nodeIdentity.membershipStore.apply({ epoch: n.keyEpoch ?? 0, publicKey: n.publicKey }, 'authority'));
      });
    };
    /** A ping for node 3 signed as the signer stage would: its registry key and epoch, unless told. */
    const packet = (over: { epoch?: number; secret?: Uint8Array } = {}) => {
      const n = w.registry.node(NODE_ID)!;
      const publicKey = over.secret ? publicKeyOf(over.secret) : parseKey(n.publicKey);
      return createSigner({ authoritySecret: w.authority.commandSecret, epoch: 0, counters }).sign({ opcode: 1, arg: 0, selector: NODE_ID }, [
        { nodeId: NODE_ID, publicKey, epoch: over.epoch ?? n.keyEpoch ?? 0 },
      ]).packets[0].bytes;
    };
    /** 'accepted', or the reason the verifier dropped it. */
    const verify = (bytes: Buffer) => {
      const [outputs, drops] = [verifier.outputs.length, verifier.drops()];
      verifier.push('datagram', bytes, { from: { address: AUTHORITY_ADDRESS, port: 40000 } });
      if (verifier.outputs.length > outputs) return 'accepted';
      return Object.entries(verifier.drops()).find(([reason, n]) => n > (drops[reason] ?? 0))?.[0];
    };

    it('moves to epoch 1 on the new key, confirmed by the authority; the old key is refused once the overlap is over', async () => {
      await start();
      const oldKey = formatKey(publicKeyOf(w.node.secret));
      const inFlight = packet(); // signed under epoch 0, the old key, before the change
      const begun = rotation.rotate() as { publicKey: string; from: number; to: number };
      expect(begun).to.deep.include({ from: 0, to: 1 });
      expect(device.answering()).to.deep.equal([begun.publicKey]);
      expect(verifier.stage.status!()).to.deep.include({ epoch: 1, previousEpoch: 0 });
      expect(() => rotation.rotate()).to.not.throw();
      // The request reaches the authority; its update confirms it.
      await until(() => identity.pending === undefined, 'the confirmation');
      expect(w.registry.node(NODE_ID)).to.deep.include({ publicKey: begun.publicKey, keyEpoch: 1 });
      expect([identity.publicKey, device.publicKey, device.answering()]).to.deep.equal([begun.publicKey, begun.publicKey, [oldKey]]);
      expect(() => rotation.rotate()).to.throw(/overlap runs until/);
      // Under the new key at epoch 1: taken; what was signed under epoch 0 before: taken in the overlap.
      expect(verify(packet())).to.equal('accepted');
      expect(verify(inFlight)).to.equal('accepted');
      // Epoch 1 under the old key: no.
      expect(verify(packet({ epoch: 1, secret: w.node.secret }))).to.equal('command-tag');
      const late = packet({ epoch: 0, secret: w.node.secret });
      await until(() => identity.previous === undefined && (verifier.stage.status!() as { previousEpoch: number | null }).previousEpoch === null, 'the overlap to end');
      expect(verify(late)).to.equal('command-no-key');
      expect([device.answering(), identity.keys.bound(), existsSync(join(dir, PREVIOUS_IDENTITY_FILE))]).to.deep.equal([[], [], false]);
      expect(verify(packet())).to.equal('accepted');
      // Neither secret ever reached the log.
      const text = logged.join('');
      expect(text).to.include('identity key changed');
      for (const secret of [w.node.secret, open().secret]) expect(text).to.not.include(formatKey(secret));
      // A restart after all of it: the new key.
      expect(open().publicKey).to.equal(begun.publicKey);
    });

    it('a node restarted before the authority answered answers the pending key again, asks again, and takes the confirmation', async () => {
      await start();
      w.registry.setStatus(NODE_ID, 'revoked', 'test');
      const begun = rotation.rotate() as { publicKey: string };
      await until(() => (ingress.counts()['identity-change-rejected.node-revoked'] ?? 0) >= 1, 'a refused request');
      // The restart: the rotation and the device gone, opened again from the instance directory.
      rotation.close();
      await device.close();
      identity = open();
      expect(identity.pending?.publicKey).to.equal(begun.publicKey);
      device = await createDevice({ privateKey: identity.secret, address: NODE_ADDRESS, bindAddress: '127.0.0.1' });
      rotation = await startRotation();
      expect(device.answering()).to.deep.equal([begun.publicKey]);
      w.registry.setStatus(NODE_ID, 'active', 'test');
      await until(() => identity.pending === undefined, 'the confirmation');
      expect([w.registry.node(NODE_ID)!.publicKey, device.publicKey]).to.deep.equal([begun.publicKey, begun.publicKey]);
    });

    it('refuses to begin on the authority, without a userspace device, and keeps asking until answered', async () => {
      await start();
      const options = { identity, membershipStore: w.nodeIdentity.membershipStore, mesh: fakeMesh(NODE_ADDRESS), resendMs: 50, overlapMs: OVERLAP_MS, logger: pino({ level: 'silent' }), count: () => {} };
      const onAuthority = await startIdentityRotation({ ...options, device, isAuthority: true });
      const osMode = await startIdentityRotation({ ...options, device: undefined, isAuthority: false });
      expect(() => onAuthority.rotate()).to.throw(/authority's own identity key/);
      expect(() => osMode.rotate()).to.throw(/userspace mesh/);
      onAuthority.close();
      osMode.close();
      expect(identity.pending).to.equal(undefined);
      // The authority records another key for this node (a misprovisioned registry): said once, loudly.
      const other = formatKey(publicKeyOf(open().secret).map((b) => b ^ 1));
      const said = () => logged.filter((l) => l.includes('the authority records another identity key')).length;
      const before = said();
      w.nodeIdentity.membershipStore.apply({ publicKey: other }, 'authority');
      w.nodeIdentity.membershipStore.apply({ groups: [1, 2] }, 'authority');
      expect(said() - before).to.equal(1);
      w.nodeIdentity.membershipStore.apply({ publicKey: identity.publicKey, groups: [1] }, 'authority');
      // The authority does not hear the first requests (the node is revoked, then approved again): it keeps asking.
      w.registry.setStatus(NODE_ID, 'revoked', 'test');
      rotation.rotate();
      await until(() => (ingress.counts()['identity-change-rejected.node-revoked'] ?? 0) >= 2, 'two refused requests');
      expect(identity.pending).to.not.equal(undefined);
      w.registry.setStatus(NODE_ID, 'active', 'test');
      await until(() => identity.pending === undefined, 'the confirmation');
      expect(w.registry.node(NODE_ID)!.publicKey).to.equal(identity.publicKey);
    });
  });
});
