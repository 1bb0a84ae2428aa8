// The key lifecycle between real stages (test/keys/rotation-harness.ts): a node moved to a new
// command-key epoch while commands flow loses none, runs none twice, and accepts nothing under the
// old epoch once the overlap is over; a node whose failed-tag cap retired its key gets a new epoch
// and takes commands again.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import type { VerifiedCommand } from '../../core/sdk/index.js';
import { rotationRig, type RotationRig } from './rotation-harness.js';

/** Resolves once `condition` holds, looking every 5 ms (for states no event announces: a deadline passing). */
async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const epochOf = (rig: RotationRig, id: string) => Buffer.from(rig.w.registry.command(id)!.targets[0].packet, 'hex')[0] & 0x3f;
const statusOf = (rig: RotationRig, id: string) => rig.w.registry.command(id)!.targets[0].status;

describe('key lifecycle: command-key epochs per node', () => {
  let rig: RotationRig;
  afterEach(async () => rig.close());

  it('rotates a node while pings flow at 50/s: none lost, none run twice, the old epoch refused once the overlap is over', async function () {
    this.timeout(20_000);
    rig = await rotationRig({ epochOverlapMs: 300 });
    const ids: string[] = [];
    let rotateId = '';
    let inFlight = '';
    let late = '';
    let inFlightDelivered = false;
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        // Signed under epoch 0 before the move and arriving just after it: still within the overlap.
        if (inFlight && !inFlightDelivered && rig.w.registry.node(3)!.keyEpoch === 1) {
          expect(rig.verifier.stage.status!()).to.deep.include({ epoch: 1, previousEpoch: 0 });
          rig.deliver(rig.held.get(inFlight)!);
          inFlightDelivered = true;
        }
        ids.push(rig.ping().id);
        if (ids.length === 50) {
          rotateId = rig.rotate().id;
          // Signed in the same turn as the rotation, so still under epoch 0; the wire holds them back.
          inFlight = rig.ping({ hold: true }).id;
          late = rig.ping({ hold: true }).id;
        }
        if (ids.length === 150) {
          clearInterval(timer);
          resolve();
        }
      }, 20);
    });
    await Promise.all([...ids, rotateId, inFlight].map((id) => rig.answered(id)));
    expect(rig.w.registry.node(3)!.keyEpoch).to.equal(1);
    expect(rig.verifier.stage.status!()).to.deep.include({ epoch: 1 });
    expect([epochOf(rig, inFlight), statusOf(rig, inFlight)]).to.deep.equal([0, 'executed']);
    // Once it is over: refused, never run.
    await until(() => (rig.verifier.stage.status!() as { previousEpoch: number | null }).previousEpoch === null, 'the overlap to end');
    rig.deliver(rig.held.get(late)!);
    expect(rig.verifier.drops()).to.deep.equal({ 'command-no-key': 1 });
    expect(statusOf(rig, late)).to.equal('sent');

    // None lost, none twice: every other command executed, each counter accepted once.
    const answeredIds = [...ids, rotateId, inFlight];
    expect(answeredIds.filter((id) => statusOf(rig, id) !== 'executed')).to.deep.equal([]);
    const counters = rig.verifier.outputs.map((e) => (e.body as VerifiedCommand).counter);
    expect(new Set(counters).size).to.equal(counters.length);
    expect(counters.length).to.equal(answeredIds.length);
    expect(rig.executor.counts()).to.deep.include({ 'ack.executed': answeredIds.length });
    // Under epoch 0 until the node's answer moved the registry, under epoch 1 from then on.
    const epochs = ids.map((id) => epochOf(rig, id));
    const firstNew = epochs.indexOf(1);
    expect(firstNew).to.be.greaterThan(49);
    expect(epochs.slice(firstNew).every((e) => e === 1)).to.equal(true);
    expect(rig.w.registry.command(rotateId)!.targets[0].detail).to.equal('key epoch 0 → 1');
    const audit = rig.w.registry.auditLog(500).filter((a) => a.action === 'node.key-epoch');
    expect(audit.map((a) => ({ actor: a.actor, ...a.detail }))).to.deep.equal([{ actor: 'node:3', id: 3, from: 0, to: 1, why: `rotate-keys ${rotateId} executed` }]);
    // The node's own record: saved, so a restart comes back at epoch 1.
    expect(JSON.parse(readFileSync(rig.w.nodeIdentity.path('membership.json'), 'utf8')).epoch).to.equal(1);
  });

  it('moves a node once for two rotations signed under the same epoch, and again for one under the new epoch', async () => {
    rig = await rotationRig({ epochOverlapMs: 60_000 });
    const first = rig.rotate().id;
    const second = rig.rotate().id;
    await Promise.all([rig.answered(first), rig.answered(second)]);
    expect([first, second].map((id) => rig.w.registry.command(id)!.targets[0].detail)).to.deep.equal(['key epoch 0 → 1', 'key epoch 1 (already)']);
    expect(rig.w.registry.node(3)!.keyEpoch).to.equal(1);
    await until(() => (rig.verifier.stage.status!() as { previousEpoch: number | null }).previousEpoch !== undefined && rig.w.registry.node(3)!.keyEpoch === 1, 'the move');
    const third = rig.rotate().id;
    await rig.answered(third);
    expect(epochOf(rig, third)).to.equal(1);
    expect(rig.w.registry.node(3)!.keyEpoch).to.equal(2);
    const ping = rig.ping().id;
    await rig.answered(ping);
    expect([epochOf(rig, ping), statusOf(rig, ping)]).to.deep.equal([2, 'executed']);
    expect(rig.w.registry.auditLog(50).filter((a) => a.action === 'node.key-epoch').map((a) => [a.detail.from, a.detail.to])).to.deep.equal([[1, 2], [0, 1]]);
  });

  it('gives a node whose failed-tag cap retired its key a new epoch, and it takes commands again', async () => {
    rig = await rotationRig({ epochOverlapMs: 60_000, failedTagCap: 3 });
    const first = rig.ping().id;
    await rig.answered(first);
    for (let i = 0; i < 3; i++) {
      const forged = rig.w.packet(BigInt(100 + i));
      forged[15] ^= 1;
      rig.deliver(forged);
    }
    // The node reports over telemetry; the authority moves it; the membership brings epoch 1.
    await until(() => rig.w.registry.node(3)!.keyEpoch === 1 && (rig.verifier.stage.status!() as { epoch: number }).epoch === 1, 'the new epoch');
    expect(rig.w.registry.node(3)!.keyRetirements).to.deep.include({ count: 1, lastEpoch: 0 });
    const after = rig.ping().id;
    await rig.answered(after);
    expect([epochOf(rig, after), statusOf(rig, after)]).to.deep.equal([1, 'executed']);
    expect(rig.w.registry.auditLog(50).map((a) => a.action)).to.include.members(['node.key-retired', 'node.key-epoch']);
  });
});
