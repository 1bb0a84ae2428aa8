import { expect } from 'chai';
import type { CounterSource } from '../../core/protocol/authority-counter.js';
import { memoryNodeState } from '../../core/protocol/node-state.js';
import { createSigner } from '../../core/protocol/signer.js';
import { createVerifier } from '../../core/protocol/verifier.js';
import { keyPair } from './fixtures/setup.js';

function countingSource(): CounterSource & { taken: number } {
  let next = 1n;
  return {
    taken: 0,
    next() {
      this.taken++;
      return next++;
    },
  };
}

describe('protocol signer', () => {
  const authority = keyPair();
  const nodes = [2, 3, 5].map((nodeId) => ({ nodeId, ...keyPair() }));
  const verifierFor = (n: (typeof nodes)[number], groups: number[] = [1]) =>
    createVerifier({ nodeSecret: n.secret, authorityPublic: authority.publicKey, nodeId: n.nodeId, groups, epoch: 4, state: memoryNodeState() });

  it('signs one command with one counter for all its targets, each packet valid only on its own node', () => {
    const counters = countingSource();
    const signer = createSigner({ authoritySecret: authority.secret, epoch: 4, counters });
    const signed = signer.sign({ opcode: 0x03, arg: 2, selector: 0x0101 }, nodes);
    expect(signed.counter).to.equal(1n);
    expect(counters.taken).to.equal(1);
    expect(signed.packets.map((p) => p.nodeId)).to.deep.equal([2, 3, 5]);
    expect(new Set(signed.packets.map((p) => p.bytes.toString('hex'))).size).to.equal(3);
    for (const [i, n] of nodes.entries()) {
      for (const [j, packet] of signed.packets.entries()) {
        const result = verifierFor(n).verify(packet.bytes);
        if (i === j) expect(result).to.deep.equal({ ok: true, counter: 1n, epoch: 4, opcode: 0x03, arg: 2, selector: 0x0101 });
        else expect(result).to.deep.equal({ ok: false, reason: 'tag' });
      }
    }
    expect(signer.sign({ opcode: 0x01, arg: 0, selector: 0xffff }, nodes).counter).to.equal(2n);
  });

  it('refuses drafts and target lists that must not be sent, without using a counter', () => {
    const counters = countingSource();
    const signer = createSigner({ authoritySecret: authority.secret, epoch: 4, counters });
    const bad: Array<[Parameters<typeof signer.sign>, RegExp]> = [
      [[{ opcode: 0x00, arg: 0, selector: 2 }, [nodes[0]]], /opcode/],
      [[{ opcode: 0xff, arg: 0, selector: 2 }, [nodes[0]]], /opcode/],
      [[{ opcode: 0x01, arg: 256, selector: 2 }, [nodes[0]]], /argument/],
      [[{ opcode: 0x01, arg: 0, selector: 0x0200 }, [nodes[0]]], /reserved/],
      [[{ opcode: 0x01, arg: 0, selector: 0 }, [nodes[0]]], /reserved/],
      [[{ opcode: 0x01, arg: 0, selector: 0xffff }, []], /at least one/],
      [[{ opcode: 0x01, arg: 0, selector: 0xffff }, [nodes[0], nodes[0]]], /twice/],
      [[{ opcode: 0x01, arg: 0, selector: 3 }, [nodes[0]]], /node 2 would refuse/],
      [[{ opcode: 0x01, arg: 0, selector: 0xffff }, [{ nodeId: 255, publicKey: nodes[0].publicKey }]], /node id/],
      [[{ opcode: 0x01, arg: 0, selector: 0xffff }, [{ nodeId: 9, publicKey: Buffer.alloc(32) }]], /low-order/],
    ];
    for (const [args, message] of bad) expect(() => signer.sign(...args), message.source).to.throw(message);
    expect(counters.taken).to.equal(0);
  });

  it('signs each target under its own epoch, all with the one counter', () => {
    const signer = createSigner({ authoritySecret: authority.secret, epoch: 4, counters: countingSource() });
    const signed = signer.sign({ opcode: 0x01, arg: 0, selector: 0x0101 }, [{ ...nodes[0], epoch: 7 }, nodes[1], { ...nodes[2], epoch: 63 }]);
    expect(signed.packets.map((p) => [p.epoch, p.bytes[0] & 0x3f])).to.deep.equal([[7, 7], [4, 4], [63, 63]]);
    const verify = (n: (typeof nodes)[number], epoch: number, bytes: Buffer) =>
      createVerifier({ nodeSecret: n.secret, authorityPublic: authority.publicKey, nodeId: n.nodeId, groups: [1], epoch, state: memoryNodeState() }).verify(bytes);
    expect(signed.packets.map((p, i) => verify(nodes[i], p.epoch, p.bytes))).to.deep.equal([7, 4, 63].map((epoch) => ({ ok: true, counter: 1n, epoch, opcode: 1, arg: 0, selector: 0x0101 })));
    expect(() => signer.sign({ opcode: 0x01, arg: 0, selector: 2 }, [{ ...nodes[0], epoch: 64 }])).to.throw(RangeError);
  });

  it("follows a node's new key instead of reusing the cached one", () => {
    const signer = createSigner({ authoritySecret: authority.secret, epoch: 4, counters: countingSource() });
    const node = { nodeId: 9, ...keyPair() };
    signer.sign({ opcode: 0x01, arg: 0, selector: 9 }, [node]);
    const rotated = { nodeId: 9, ...keyPair() };
    const signed = signer.sign({ opcode: 0x01, arg: 0, selector: 9 }, [rotated]);
    expect(verifierFor(rotated).verify(signed.packets[0].bytes).ok).to.equal(true);
  });
});
