// Builds test/vectors/command-packet.json with this implementation's code, from fixed keys, so
// other implementations can check themselves against it. `node dist/test/vectors/generate.js`
// rewrites the file; test/protocol/vectors.test.ts checks that the file is what this builds and
// recomputes every value independently (@noble instead of node:crypto).
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { projectRoot } from '../../core/project-root.js';
import { encodeAck, type AckStatus } from '../../core/protocol/ack.js';
import { reconstructCounter } from '../../core/protocol/counter.js';
import { deriveHmacKey, deriveKey, pairSecret } from '../../core/protocol/key-derivation.js';
import { formatKey, publicKeyOf } from '../../core/keys/index.js';
import { memoryNodeState } from '../../core/protocol/node-state.js';
import { encodePacket, type CommandFields } from '../../core/protocol/packet.js';
import { createVerifier } from '../../core/protocol/verifier.js';

/** A fixed secret from a label, clamped as `wg genkey` clamps. */
function fixedSecret(label: string): Buffer {
  const secret = createHash('sha256').update(`ppn test vector ${label}`).digest();
  secret[0] &= 248;
  secret[31] = (secret[31] & 127) | 64;
  return secret;
}

const authority = fixedSecret('authority command key');
const nodes = [
  { nodeId: 2, secret: fixedSecret('node 2'), groups: [1] },
  { nodeId: 3, secret: fixedSecret('node 3'), groups: [1, 7] },
];
const EPOCHS = [0, 1, 5];

function node(nodeId: number) {
  const n = nodes.find((x) => x.nodeId === nodeId);
  if (!n) throw new Error(`no fixed node ${nodeId}`);
  return n;
}

function packet(nodeId: number, fields: CommandFields, counter: bigint): Buffer {
  const ss = pairSecret(authority, publicKeyOf(node(nodeId).secret));
  return encodePacket(fields, counter, deriveHmacKey(ss, 'command', fields.epoch, nodeId));
}

function withBitFlipped(bytes: Buffer, bit: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[bit >> 3] ^= 0x80 >> (bit & 7);
  return copy;
}

interface ReceiveCase {
  name: string;
  nodeId: number;
  currentEpoch: number;
  previousEpoch?: number;
  highest: bigint;
  /** Packets the node accepts first, in this order (same epoch as the case's packet). */
  earlier?: string[];
  hex: string;
}

function receiveCases(): ReceiveCase[] {
  const base = { nodeId: 3, currentEpoch: 1, highest: 0n };
  const p = (fields: Partial<CommandFields>, counter: bigint, nodeId = 3) =>
    packet(nodeId, { epoch: 1, opcode: 0x01, arg: 0, selector: 3, ...fields }, counter);
  const good = p({ opcode: 0x05, arg: 2 }, 7n);
  const raw = (bytes: Buffer) => bytes.toString('hex');
  return [
    { ...base, name: 'accepted: node id selector', hex: raw(good) },
    { ...base, name: 'accepted: group 7 selector', hex: raw(p({ selector: 0x0107 }, 9n)) },
    { ...base, name: 'accepted: every node', hex: raw(p({ selector: 0xffff, opcode: 0x0b }, 1n)) },
    { ...base, name: 'accepted: previous epoch', currentEpoch: 5, previousEpoch: 1, hex: raw(good) },
    { ...base, name: 'accepted: counter rebuilt across a 2^24 wrap', highest: 0xfffffen, hex: raw(p({}, 0x1000003n)) },
    {
      ...base,
      name: 'accepted: below H, inside the window, not seen before',
      highest: 0xfffff0n,
      earlier: [raw(p({}, 0x1000010n))],
      hex: raw(p({}, 0xfffffan)),
    },
    {
      ...base,
      name: 'accepted: the farthest ahead (H + 1 + 2^23)',
      highest: (1n << 24n) + 100n,
      hex: raw(p({}, (1n << 24n) + 101n + (1n << 23n))),
    },
    { ...base, name: 'rejected length: 15 bytes', hex: raw(good.subarray(0, 15)) },
    { ...base, name: 'rejected length: 17 bytes', hex: raw(Buffer.concat([good, Buffer.of(0)])) },
    { ...base, name: 'rejected version: 00', hex: raw(Buffer.concat([Buffer.of(good[0] & 0x3f), good.subarray(1)])) },
    { ...base, name: 'rejected version: 10 (genesis beacon)', hex: raw(Buffer.concat([Buffer.of((good[0] & 0x3f) | 0x80), good.subarray(1)])) },
    { ...base, name: 'rejected version: 11', hex: raw(Buffer.concat([Buffer.of(good[0] | 0xc0), good.subarray(1)])) },
    { ...base, name: 'rejected no-key: epoch neither current nor previous', currentEpoch: 5, previousEpoch: 0, hex: raw(good) },
    { ...base, name: 'rejected tag: last bit flipped', hex: raw(withBitFlipped(good, 127)) },
    { ...base, name: 'rejected tag: packet for another node', hex: raw(p({}, 7n, 2)) },
    {
      ...base,
      name: 'rejected tag: one beyond the reconstruction range (H + 2 + 2^23)',
      highest: (1n << 24n) + 100n,
      hex: raw(p({}, (1n << 24n) + 102n + (1n << 23n))),
    },
    { ...base, name: 'rejected replay: the same packet twice', earlier: [raw(good)], hex: raw(good) },
    {
      ...base,
      name: 'rejected replay: below H, already accepted',
      highest: 0xfffff0n,
      earlier: [raw(p({}, 0xfffffan)), raw(p({}, 0x1000010n))],
      hex: raw(p({}, 0xfffffan)),
    },
    { ...base, name: 'rejected zero-counter: valid tag over C = 0', hex: raw(p({}, 0n)) },
    { ...base, name: 'rejected too-old: C = H - 2048', highest: 5000n, hex: raw(p({}, 5000n - 2048n)) },
    { ...base, name: 'rejected replay: C = H', highest: 7n, hex: raw(good) },
    { ...base, name: 'rejected replay: below H after a restart (H - 2047)', highest: 2054n, hex: raw(good) },
    { ...base, name: 'rejected replay: just below H after a restart', highest: 0x1000010n, hex: raw(p({}, 0xfffffan)) },
    { ...base, name: 'rejected reserved-target: 0x0000', hex: raw(p({ selector: 0x0000 }, 7n)) },
    { ...base, name: 'rejected reserved-target: 0x00FF', hex: raw(p({ selector: 0x00ff }, 7n)) },
    { ...base, name: 'rejected reserved-target: 0x0200', hex: raw(p({ selector: 0x0200 }, 7n)) },
    { ...base, name: 'rejected reserved-target: 0xFFFE', hex: raw(p({ selector: 0xfffe }, 7n)) },
    { ...base, name: 'rejected target: another node id', hex: raw(p({ selector: 2 }, 7n)) },
    { ...base, name: 'rejected target: a group the node is not in', hex: raw(p({ selector: 0x0102 }, 7n)) },
  ];
}

const RECONSTRUCTION: Array<[highest: bigint, low24: number]> = [
  [0n, 1],
  [0n, 0],
  [0n, 0xffffff],
  [0xfffffen, 0],
  [0xffffffn, 0xffffff],
  [0x1000000n, 0xffffff],
  [(1n << 23n) + 4n, 5],
  [(1n << 23n) + 4n, 6],
  [(1n << 24n) + 9n, 10 + (1 << 23)],
  [(1n << 24n) + 9n, 11 + (1 << 23)],
  [0x123456789abcdefn, 0xabcdf0],
  [(1n << 64n) - 2n, 0xffffff],
  [(1n << 64n) - 2n, 0],
];

const ACKS: Array<{ nodeId: number; epoch: number; counter: bigint; status: AckStatus; detail: string }> = [
  { nodeId: 3, epoch: 1, counter: 7n, status: 'executed', detail: '' },
  { nodeId: 2, epoch: 0, counter: 0x1000003n, status: 'failed', detail: 'restart-service udp: unit not found' },
  { nodeId: 3, epoch: 5, counter: 42n, status: 'rejected-by-policy', detail: 'opcode 0x0b not permitted on this node' },
  { nodeId: 2, epoch: 1, counter: 1n, status: 'unknown-intent', detail: 'Zürich ✓' },
];

export function buildVectors() {
  const authorityPublic = publicKeyOf(authority);
  return {
    description:
      'Command packet v1 and telemetry ack v1 test vectors, generated by test/vectors/generate.ts. ' +
      'Keys are WireGuard-format base64; counters are decimal strings; bytes are lowercase hex.',
    authority: { secret: formatKey(authority), public: formatKey(authorityPublic) },
    nodes: nodes.map((n) => ({ nodeId: n.nodeId, secret: formatKey(n.secret), public: formatKey(publicKeyOf(n.secret)), groups: n.groups })),
    keys: nodes.flatMap((n) => {
      const ss = pairSecret(authority, publicKeyOf(n.secret));
      return EPOCHS.map((epoch) => ({
        nodeId: n.nodeId,
        epoch,
        sharedSecret: ss.toString('hex'),
        commandKey: deriveKey(ss, 'command', epoch, n.nodeId).toString('hex'),
        telemetryKey: deriveKey(ss, 'telemetry', epoch, n.nodeId).toString('hex'),
      }));
    }),
    packets: [
      { nodeId: 2, epoch: 0, opcode: 0x01, arg: 0, selector: 0xffff, counter: 1n },
      { nodeId: 3, epoch: 0, opcode: 0x01, arg: 0, selector: 0xffff, counter: 1n },
      { nodeId: 3, epoch: 1, opcode: 0x03, arg: 4, selector: 0x0101, counter: 0x1000005n },
      { nodeId: 2, epoch: 5, opcode: 0x05, arg: 3, selector: 2, counter: 0x123456789abcdefn },
      { nodeId: 3, epoch: 63, opcode: 0xfe, arg: 255, selector: 3, counter: (1n << 64n) - 1n },
    ].map(({ nodeId, counter, ...fields }) => ({
      nodeId,
      ...fields,
      counter: counter.toString(),
      hex: packet(nodeId, fields, counter).toString('hex'),
    })),
    receive: receiveCases().map((c) => {
      const n = node(c.nodeId);
      const bytes = Buffer.from(c.hex, 'hex');
      const verifier = createVerifier({
        nodeSecret: n.secret,
        authorityPublic,
        nodeId: n.nodeId,
        groups: n.groups,
        epoch: c.currentEpoch,
        previousEpoch: c.previousEpoch,
        state: memoryNodeState({ [bytes[0] & 0x3f]: { highest: c.highest } }),
      });
      for (const earlier of c.earlier ?? []) {
        if (!verifier.verify(Buffer.from(earlier, 'hex')).ok) throw new Error(`${c.name}: an earlier packet was refused`);
      }
      const result = verifier.verify(bytes);
      return {
        ...c,
        highest: c.highest.toString(),
        expect: result.ok ? { ok: true, counter: result.counter.toString() } : { ok: false, reason: result.reason },
      };
    }),
    reconstruction: RECONSTRUCTION.map(([highest, low24]) => ({
      highest: highest.toString(),
      low24,
      counter: reconstructCounter(highest, low24).toString(),
    })),
    acks: ACKS.map((a) => {
      const ss = pairSecret(authority, publicKeyOf(node(a.nodeId).secret));
      return { ...a, counter: a.counter.toString(), hex: encodeAck(a, deriveHmacKey(ss, 'telemetry', a.epoch, a.nodeId)).toString('hex') };
    }),
  };
}

export const VECTORS_FILE = join(projectRoot(), 'test', 'vectors', 'command-packet.json');

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(VECTORS_FILE, `${JSON.stringify(buildVectors(), null, 2)}\n`);
  console.log(`wrote ${VECTORS_FILE}`);
}
