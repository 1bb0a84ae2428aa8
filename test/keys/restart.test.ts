// The previous key epoch survives a node restart (its state database): a node that moved itself
// (rotate-keys) and restarted before the authority confirmed still takes commands of the epoch
// the authority signs under; once the overlap the confirmation started is over, a restart does
// not bring that epoch back.
import { expect } from 'chai';
import verifier from '../../plugins/verifier/index.js';
import { MESH, NODE, type VerifiedCommand } from '../../core/sdk/index.js';
import { fakeMesh, startStage, type StageKit } from '../../core/sdk/testing.js';
import { AUTHORITY_ADDRESS, NODE_ADDRESS, world, type World } from '../plugins/support.js';

describe('key lifecycle: the previous epoch across node restarts', () => {
  let w: World;
  let kit: StageKit | undefined;
  const from = { from: { address: AUTHORITY_ADDRESS, port: 40000 } };
  const start = async (epochOverlapMs: number) => {
    await kit?.close();
    kit = await startStage(verifier, { config: { epochOverlapMs }, services: { [NODE]: w.nodeIdentity, [MESH]: fakeMesh(NODE_ADDRESS) } });
    return kit;
  };
  const accepted = (k: StageKit) => k.outputs.map((e) => (e.body as VerifiedCommand).counter);
  beforeEach(() => (w = world()));
  afterEach(async () => {
    await kit?.close();
    kit = undefined;
    w.cleanup();
  });

  it('keeps an unconfirmed previous epoch across a restart, and drops it for good once its overlap has passed', async () => {
    let k = await start(0);
    k.push('datagram', w.packet(1n), from);
    w.nodeIdentity.membershipStore.apply({ epoch: 1 }, 'self'); // as the rotate-keys handler does
    k = await start(0);
    k.push('datagram', w.packet(2n), from);
    k.push('datagram', w.packet(3n, { epoch: 1 }), from);
    expect(accepted(k)).to.deep.equal([2n, 3n]);
    expect(k.stage.status!()).to.deep.include({ epoch: 1, previousEpoch: 0 });
    // The authority confirms; with no overlap the previous epoch ends at once, also after a restart.
    w.nodeIdentity.membershipStore.apply({ epoch: 1 }, 'authority');
    k.push('datagram', w.packet(4n), from);
    k = await start(0);
    k.push('datagram', w.packet(5n), from);
    k.push('datagram', w.packet(6n, { epoch: 1 }), from);
    expect(accepted(k)).to.deep.equal([6n]);
    expect(k.drops()).to.deep.equal({ 'command-no-key': 1 });
  });

  it('keeps a confirmed previous epoch across a restart until its deadline', async () => {
    let k = await start(600_000);
    w.nodeIdentity.membershipStore.apply({ epoch: 1 }, 'authority');
    k = await start(600_000);
    k.push('datagram', w.packet(7n), from);
    expect(accepted(k)).to.deep.equal([7n]);
    expect(k.stage.status!()).to.deep.include({ epoch: 1, previousEpoch: 0 });
  });
});
