// Command ids the operator reads: one registry sequence per key epoch, so they follow each other
// across admin restarts, while the wire counter still skips the rest of its reserved block
// (core/protocol/authority-counter.ts: a restart resumes above the committed bound).
import { expect } from 'chai';
import signer from '../../plugins/signer/index.js';
import { NODE, REGISTRY, type Draft, type OutboundCommand, type RoutedIntent } from '../../core/sdk/index.js';
import { startStage } from '../../core/sdk/testing.js';
import { world, type World } from './support.js';

const draft: Draft = { intent: 'ping', opcode: 0x01, arg: 0, argName: null, target: 'leased', selector: 3, confidence: 1, confirm: false, explanation: 'test' };
const intent: RoutedIntent = { text: 'ping leased', actor: 'operator', dryRun: false, confirm: false, draft };

describe('command ids across admin restarts', () => {
  let w: World;
  beforeEach(() => (w = world()));
  afterEach(() => w.cleanup());

  /** One admin run: a signer started on the same registry, `n` commands signed, stopped. */
  const run = async (n: number): Promise<OutboundCommand[]> => {
    const kit = await startStage(signer, { config: {}, services: { [NODE]: w.adminIdentity, [REGISTRY]: w.registry } });
    try {
      for (let i = 0; i < n; i++) kit.push('draft', intent);
      return kit.outputs.map((o) => o.body as OutboundCommand);
    } finally {
      await kit.close();
    }
  };

  it('numbers commands c0-1, c0-2, c0-3 over three restarts while the counter jumps by its block', async () => {
    const commands = [...(await run(1)), ...(await run(1)), ...(await run(1))];
    expect(commands.map((c) => c.id)).to.deep.equal(['c0-1', 'c0-2', 'c0-3']);
    expect(commands.map((c) => c.counter)).to.deep.equal(['1', '1025', '2049']);
    expect(w.registry.commands(10).map((c) => [c.id, c.counter])).to.deep.equal([['c0-3', '2049'], ['c0-2', '1025'], ['c0-1', '1']]);
  });

  it('matches an ack to its command by epoch and counter, whatever the id', async () => {
    await run(1);
    const [second] = await run(1);
    const nodeId = second.packets[0].nodeId;
    expect(w.registry.markTarget(0, second.counter, nodeId, 'executed', 'pong')).to.equal(true);
    expect(w.registry.command('c0-2')?.targets.map((t) => [t.status, t.detail])).to.deep.equal([['executed', 'pong']]);
    expect(w.registry.markTarget(0, '2', nodeId, 'executed')).to.equal(false);
  });
});
