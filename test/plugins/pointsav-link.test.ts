// The diode's refusals, each settled with its reason (which the host counts) and logged sampled.
import { expect } from 'chai';
import diode from '../../plugins/pointsav-link/index.js';
import { COMMAND_PORT, NODE, type OutboundCommand } from '../../core/sdk/index.js';
import { startStage, type StageKit } from '../../core/sdk/testing.js';
import { AUTHORITY_ADDRESS, NODE_ADDRESS, world, type World } from './support.js';

const fromAuthority = { from: { address: AUTHORITY_ADDRESS, port: 40000 } };

describe('pointsav-link (the diode)', () => {
  let w: World;
  let kit: StageKit;
  beforeEach(() => (w = world()));
  afterEach(async () => {
    await kit?.close();
    w.cleanup();
  });

  describe("side 'node'", () => {
    beforeEach(async () => {
      kit = await startStage(diode, { config: { side: 'node', permittedOpcodes: [0x01, 0x02], logPerMinute: 2 }, services: { [NODE]: w.nodeIdentity } });
    });

    it('passes a command packet from the authority with a permitted opcode, untouched', () => {
      const env = kit.push('datagram', w.packet(1n), fromAuthority);
      expect(kit.outputs).to.deep.equal([env]);
      expect(kit.outcome(env)).to.equal(undefined);
    });

    it('refuses, each with its reason: not a datagram, not from the authority, not a command, opcode not permitted', () => {
      const refused = [
        kit.push('intent', { text: 'x' }, fromAuthority),
        kit.push('datagram', 'a string', fromAuthority),
        kit.push('datagram', w.packet(2n), { from: { address: NODE_ADDRESS, port: 40000 } }),
        kit.push('datagram', w.packet(3n), {}),
        kit.push('datagram', w.packet(4n).subarray(0, 15), fromAuthority),
        kit.push('datagram', Buffer.from([0x00, ...w.packet(5n).subarray(1)]), fromAuthority),
        kit.push('datagram', w.packet(6n, { opcode: 0x0b }), fromAuthority),
      ];
      expect(kit.outputs).to.deep.equal([]);
      expect(refused.map((e) => kit.outcome(e))).to.deep.equal([
        { status: 'dropped', reason: 'link-not-a-datagram' },
        { status: 'dropped', reason: 'link-not-a-datagram' },
        { status: 'dropped', reason: 'link-not-authority' },
        { status: 'dropped', reason: 'link-not-authority' },
        { status: 'dropped', reason: 'link-not-a-command' },
        { status: 'dropped', reason: 'link-not-a-command' },
        { status: 'dropped', reason: 'link-opcode-not-permitted' },
      ]);
      expect(kit.drops()).to.deep.equal({ 'link-not-a-datagram': 2, 'link-not-authority': 2, 'link-not-a-command': 2, 'link-opcode-not-permitted': 1 });
    });

    it('logs refusals at a sampled rate (logPerMinute per reason), however many there are', () => {
      for (let i = 0; i < 50; i++) kit.push('datagram', Buffer.alloc(3), fromAuthority);
      expect(kit.drops()).to.deep.equal({ 'link-not-a-command': 50 });
      expect(kit.logs.filter((l) => l.msg === 'diode blocked')).to.have.length(2);
    });
  });

  describe("side 'authority'", () => {
    beforeEach(async () => {
      kit = await startStage(diode, { config: { side: 'authority' }, services: { [NODE]: w.adminIdentity } });
    });

    const command = (packets: Partial<OutboundCommand['packets'][number]>[]): OutboundCommand => ({
      id: 'c0-1', epoch: 0, counter: '1', text: 'ping leased', actor: 'operator',
      draft: { intent: 'ping', opcode: 1, arg: 0, argName: null, target: 'leased', selector: 3, confidence: 1, confirm: false, explanation: '' },
      packets: packets.map((p) => ({ nodeId: 3, name: 'leased', address: NODE_ADDRESS, port: COMMAND_PORT, bytes: w.packet(1n), ...p })),
    });

    it('passes outbound command packets to the command port of other nodes', () => {
      const env = kit.push('command', command([{}]));
      expect(kit.outputs).to.deep.equal([env]);
    });

    it('refuses what is not a command, a packet to another port, to itself, or not a command packet', () => {
      const refused = [
        kit.push('datagram', w.packet(1n)),
        kit.push('command', command([{}, { port: 8091 }])),
        kit.push('command', command([{ address: AUTHORITY_ADDRESS }])),
        kit.push('command', command([{ bytes: Buffer.alloc(16) }])),
      ];
      expect(kit.outputs).to.deep.equal([]);
      expect(refused.map((e) => kit.outcome(e))).to.deep.equal([
        { status: 'dropped', reason: 'link-not-a-command' },
        { status: 'dropped', reason: 'link-wrong-port' },
        { status: 'dropped', reason: 'link-to-self' },
        { status: 'dropped', reason: 'link-not-a-command' },
      ]);
    });
  });
});
