// The executor's refusals: an opcode not in the catalog, an unknown argument, anything but the
// allowed few while quarantined, an intent with no handler — each answered with an ack saying so,
// counted by status, and nothing run.
import { expect } from 'chai';
import executor from '../../plugins/executor/index.js';
import { HOST, NODE, type CommandAck, type HostControl, type VerifiedCommand } from '../../core/sdk/index.js';
import { startStage, type StageKit } from '../../core/sdk/testing.js';
import { world, type World } from './support.js';

describe('executor', () => {
  let w: World;
  let kit: StageKit;
  let restarted: string[][];
  let counter = 0n;
  const host: HostControl = {
    reload: async () => ({ ok: true }) as never,
    restart: async (ids) => {
      restarted.push(ids);
      return { ok: true } as never;
    },
    setLogLevel: () => {},
    status: () => ({ stages: {}, drops: {}, reloads: { count: 0 } }) as never,
  };
  const run = async (opcode: number, arg = 0): Promise<CommandAck> => {
    const command: VerifiedCommand = { counter: ++counter, epoch: 0, opcode, arg, selector: 3 };
    const env = kit.push('command', command);
    const [out] = (await kit.emitted(kit.outputs.length + 1)).slice(-1);
    expect(out.id).to.equal(env.id);
    return out.body as CommandAck;
  };

  beforeEach(async () => {
    w = world();
    restarted = [];
    kit = await startStage(executor, { config: { restartable: { sync: 'sync-in' } }, stageId: 'exec', services: { [HOST]: host, [NODE]: w.nodeIdentity } });
  });
  afterEach(async () => {
    await kit.close();
    w.cleanup();
  });

  it('runs a built-in handler and acks it executed', async () => {
    expect(await run(0x01)).to.deep.include({ status: 'executed', detail: 'pong' });
    expect(await run(0x03, 2)).to.deep.include({ status: 'executed' });
    expect(restarted).to.deep.equal([['sync-in']]);
  });

  it('refuses an opcode its catalog lacks, an unknown argument, an intent without a handler', async () => {
    expect(await run(0x70)).to.deep.include({ status: 'unknown-intent', detail: "opcode 0x70 is not in this node's catalog" });
    expect(await run(0x03, 99)).to.deep.include({ status: 'failed', detail: 'restart-service: unknown argument 99' });
    expect(await run(0x0b)).to.deep.include({ status: 'failed', detail: 'no handler configured for reboot on this node' });
    expect(kit.counts()).to.deep.equal({ 'ack.unknown-intent': 1, 'ack.failed': 2 });
  });

  it('while quarantined refuses all but ping, telemetry and release, and remembers the quarantine', async () => {
    expect(await run(0x09)).to.deep.include({ status: 'executed', detail: 'quarantine on' });
    expect(w.nodeIdentity.readJson('flags.json')).to.deep.equal({ maintenance: false, quarantined: true });
    expect(await run(0x03, 2)).to.deep.include({ status: 'rejected-by-policy', detail: 'quarantined: restart-service refused' });
    expect(restarted).to.deep.equal([]);
    expect(await run(0x01)).to.deep.include({ status: 'executed' });
    expect(await run(0x0a)).to.deep.include({ status: 'executed', detail: 'quarantine off' });
  });
});
