// Authority side: turns one command into one 16-byte packet per target node, all carrying the
// same counter, each tagged with that node's command key for that node's key epoch (nodes move
// between epochs one by one; the shared counter sequence makes one C new in all of them).
import type { CounterSource } from './authority-counter.js';
import { createAuthorityKeyCache } from './epoch-keys.js';
import { checkEpoch, checkNodeId } from './key-derivation.js';
import { encodePacket } from './packet.js';
import { targetKind } from './target.js';

export interface CommandDraft {
  /** 0x01..0xFE (0x00 and 0xFF are reserved). */
  opcode: number;
  /** 0..255. */
  arg: number;
  /** A node id, 0x0100 | group id, or 0xFFFF (target.ts builds them). */
  selector: number;
}

export interface SignTarget {
  nodeId: number;
  /** The selector this node's packet carries, when not the draft's (a draft naming a set of targets). */
  selector?: number;
  /** The node's X25519 public key for the epoch its packet is signed under, 32 raw bytes. */
  publicKey: Uint8Array;
  /** The key epoch this node's packet is signed under, when not the signer's default. */
  epoch?: number;
  /** The authority's command secret that epoch is bound to, when not the signer's (epoch-keys.ts). */
  authoritySecret?: Uint8Array;
}

export interface SignedCommand {
  /** The one counter value this command took, shared by all its packets. */
  counter: bigint;
  packets: { nodeId: number; epoch: number; bytes: Buffer }[];
}

export interface SignerOptions {
  /** The authority's command secret (not its WireGuard key), 32 raw bytes. */
  authoritySecret: Uint8Array;
  /** The key epoch of targets that name none. */
  epoch: number;
  counters: CounterSource;
}

export interface Signer {
  readonly epoch: number;
  /** Throws RangeError for a draft or target list that must not be sent; no counter is used then. */
  sign(draft: CommandDraft, targets: readonly SignTarget[]): SignedCommand;
}

function checkDraft(draft: CommandDraft): void {
  const { opcode, arg, selector } = draft;
  if (!Number.isInteger(opcode) || opcode < 0x01 || opcode > 0xfe) {
    throw new RangeError(`opcode must be in 0x01..0xFE (0x00 and 0xFF are reserved), got ${opcode}`);
  }
  if (!Number.isInteger(arg) || arg < 0 || arg > 255) throw new RangeError(`argument must be in 0..255, got ${arg}`);
  if (!Number.isInteger(selector) || selector < 0 || selector > 0xffff || targetKind(selector) === 'reserved') {
    throw new RangeError(`target selector ${selector} is reserved or out of range`);
  }
}

function checkTargets(draftSelector: number, targets: readonly SignTarget[]): void {
  if (targets.length === 0) throw new RangeError('a command needs at least one target node');
  const seen = new Set<number>();
  for (const target of targets) {
    const { nodeId } = target;
    checkNodeId(nodeId);
    if (seen.has(nodeId)) throw new RangeError(`node ${nodeId} is listed twice`);
    if (target.epoch !== undefined) checkEpoch(target.epoch);
    seen.add(nodeId);
    const selector = target.selector ?? draftSelector;
    if (target.selector !== undefined) checkDraft({ opcode: 1, arg: 0, selector });
    if (targetKind(selector) === 'node' && nodeId !== selector) {
      throw new RangeError(`the selector names node ${selector}, so node ${nodeId} would refuse the packet`);
    }
  }
}

export function createSigner(options: SignerOptions): Signer {
  const { epoch, counters } = options;
  checkEpoch(epoch);
  // One X25519 per node and pair, one HKDF per node and epoch, then reused; derived again when a
  // target's pair for that epoch changes (a new node key, a new authority key).
  const cache = createAuthorityKeyCache();
  const keyFor = (target: SignTarget, targetEpoch: number) =>
    cache.hmacKey('command', target.nodeId, targetEpoch, { authoritySecret: target.authoritySecret ?? options.authoritySecret, nodePublicKey: target.publicKey });

  return {
    epoch,
    sign(draft, targets) {
      checkDraft(draft);
      checkTargets(draft.selector, targets);
      const epochs = targets.map((t) => t.epoch ?? epoch);
      const nodeKeys = targets.map((t, i) => keyFor(t, epochs[i]));
      const counter = counters.next();
      return {
        counter,
        packets: targets.map((t, i) => ({
          nodeId: t.nodeId,
          epoch: epochs[i],
          bytes: encodePacket({ epoch: epochs[i], opcode: draft.opcode, arg: draft.arg, selector: t.selector ?? draft.selector }, counter, nodeKeys[i]),
        })),
      };
    },
  };
}
