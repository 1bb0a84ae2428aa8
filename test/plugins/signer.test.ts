// The signer's refusals: no target, unconfirmed, unsignable; each settled with its reason, and
// nothing recorded or passed on for any of them.
import { expect } from 'chai';
import signer from '../../plugins/signer/index.js';
import { NODE, REGISTRY, type Draft, type OutboundCommand, type RoutedIntent } from '../../core/sdk/index.js';
import { startStage, type StageKit } from '../../core/sdk/testing.js';
import { NODE_ADDRESS, world, type World } from './support.js';

const draft = (d: Partial<Draft> = {}): Draft => ({
  intent: 'ping', opcode: 0x01, arg: 0, argName: null, target: 'leased', selector: 3, confidence: 1, confirm: false, explanation: 'test', ...d,
});
const intent = (d: Partial<Draft> = {}, r: Partial<RoutedIntent> = {}): RoutedIntent => ({ text: 'ping leased', actor: 'operator', dryRun: false, confirm: false, draft: draft(d), ...r });

describe('signer', () => {
  let w: World;
  let kit: StageKit;
  beforeEach(async () => {
    w = world();
    kit = await startStage(signer, { config: {}, services: { [NODE]: w.adminIdentity, [REGISTRY]: w.registry } });
  });
  afterEach(async () => {
    await kit.close();
    w.cleanup();
  });

  it('signs a draft into one packet per target, records it, and passes the command on', () => {
    kit.push('draft', intent());
    expect(kit.outputs).to.have.length(1);
    const command = kit.outputs[0].body as OutboundCommand;
    expect([kit.outputs[0].kind, command.id, command.packets.map((p) => [p.address, p.port, p.bytes.length])]).to.deep.equal(['command', 'c0-1', [[NODE_ADDRESS, 8090, 16]]]);
    expect(w.registry.command('c0-1')?.targets.map((t) => t.status)).to.deep.equal(['sent']);
    expect(kit.counts()).to.deep.equal({ signed: 1 });
  });

  it('refuses a draft no active node takes, and one that needs confirming; signs nothing for either', () => {
    const none = kit.push('draft', intent({ target: 'onprem', selector: 2 }));
    const unconfirmed = kit.push('draft', intent({ intent: 'reboot', opcode: 0x0b, confirm: true }));
    expect(kit.outcome(none)).to.deep.include({ status: 'dropped', reason: 'no-targets' });
    expect((kit.outcome(none)!.detail as { error: string }).error).to.equal("no active node takes commands as 'onprem'");
    expect(kit.outcome(unconfirmed)).to.deep.include({ status: 'dropped', reason: 'needs-confirm' });
    expect(kit.outputs).to.deep.equal([]);
    expect(w.registry.commands(10)).to.deep.equal([]);
    expect(kit.drops()).to.deep.equal({ 'no-targets': 1, 'needs-confirm': 1 });
  });

  it('answers a dry run with the draft and its targets, signing nothing', () => {
    const env = kit.push('draft', intent({}, { dryRun: true }));
    expect(kit.outcome(env)).to.deep.equal({ status: 'delivered', detail: { dryRun: true, draft: draft(), targets: [{ nodeId: 3, name: 'leased', address: NODE_ADDRESS }] } });
    expect(w.registry.commands(10)).to.deep.equal([]);
  });

  it('fails a draft it cannot encode (an opcode outside a byte), and goes on signing the next', () => {
    const bad = kit.push('draft', intent({ opcode: 0x100 }));
    expect(kit.outcome(bad)).to.deep.include({ status: 'failed' });
    expect((kit.outcome(bad) as { error: string }).error).to.match(/^signing failed: .*opcode/);
    kit.push('draft', intent());
    expect(kit.outputs).to.have.length(1);
  });
});
