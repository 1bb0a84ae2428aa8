// The verifier's refusals: every receive step that can refuse, settled 'command-<reason>'.
import { expect } from 'chai';
import verifier from '../../plugins/verifier/index.js';
import { NODE, type VerifiedCommand } from '../../core/sdk/index.js';
import { startStage, type StageKit } from '../../core/sdk/testing.js';
import { world, type World } from './support.js';

describe('verifier', () => {
  let w: World;
  let kit: StageKit;
  beforeEach(async () => {
    w = world();
    kit = await startStage(verifier, { config: { failedTagCap: 3, logPerMinute: 2 }, services: { [NODE]: w.nodeIdentity } });
  });
  afterEach(async () => {
    await kit.close();
    w.cleanup();
  });

  it('passes an authentic command on as a VerifiedCommand', () => {
    kit.push('datagram', w.packet(7n, { opcode: 0x02 }));
    expect(kit.outputs.map((e) => [e.kind, e.body])).to.deep.equal([['command', { counter: 7n, epoch: 0, opcode: 0x02, arg: 0, selector: 3 } satisfies VerifiedCommand]]);
  });

  it('refuses length, version, unknown epoch, tag, replay, other targets, reserved targets — each with its reason', () => {
    const good = w.packet(10n);
    const badTag = Buffer.from(good);
    badTag[15] ^= 1;
    const refused = [
      kit.push('datagram', good.subarray(0, 12)),
      kit.push('datagram', Buffer.from([good[0] & 0x3f, ...good.subarray(1)])),
      kit.push('datagram', w.packet(11n, { epoch: 5 })),
      kit.push('datagram', badTag),
    ];
    kit.push('datagram', w.packet(12n));
    refused.push(
      kit.push('datagram', w.packet(12n)),
      kit.push('datagram', w.packet(13n, { selector: 4 })),
      kit.push('datagram', w.packet(14n, { selector: 0x0200 })),
    );
    expect(refused.map((e) => kit.outcome(e))).to.deep.equal(
      ['length', 'version', 'no-key', 'tag', 'replay', 'target', 'reserved-target'].map((r) => ({ status: 'dropped', reason: `command-${r}` })),
    );
    expect(kit.outputs).to.have.length(1);
    expect(kit.stage.status!()).to.deep.include({ accepted: 1 });
  });

  it('logs rejections sampled (logPerMinute per reason), counts them all', () => {
    for (let i = 0; i < 20; i++) kit.push('datagram', Buffer.alloc(5));
    expect(kit.drops()).to.deep.equal({ 'command-length': 20 });
    expect(kit.logs.filter((l) => l.msg === 'command rejected')).to.have.length(2);
  });
});
