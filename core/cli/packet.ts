// `ppn packet encode | verify | decode`: the command packet by hand, for debugging and for
// checking other implementations against this one. Numbers take decimal or 0x-hex.
import type { Command } from 'commander';
import { reconstructCounter } from '../protocol/counter.js';
import { InvalidKeyError, parseKey } from '../keys/index.js';
import { deriveHmacKey, pairSecret } from '../protocol/key-derivation.js';
import { memoryNodeState } from '../protocol/node-state.js';
import { COMMAND_VERSION, PACKET_LENGTH, decodePacket, encodePacket } from '../protocol/packet.js';
import { targetKind } from '../protocol/target.js';
import { createVerifier } from '../protocol/verifier.js';
import { asUsageError, UsageError } from './cli-errors.js';

function parseNumber(text: string, option: string, min: bigint, max: bigint): bigint {
  if (!/^(0[xX][0-9a-fA-F]+|[0-9]+)$/.test(text)) throw new UsageError(`${option}: '${text}' is not a decimal or 0x-hex number`);
  const value = BigInt(text);
  if (value < min || value > max) throw new UsageError(`${option} must be in ${min}..${max}, got ${value}`);
  return value;
}

const small = (text: string, option: string, min: number, max: number) => Number(parseNumber(text, option, BigInt(min), BigInt(max)));

/** Runs `fn`, turning a bad key (malformed text, low-order point) into a usage error. */
function withKeys<T>(fn: () => T): T {
  return asUsageError(fn, InvalidKeyError);
}

const key = (text: string, option: string) => withKeys(() => parseKey(text, option));

function parseHex(text: string): Buffer {
  if (!/^([0-9a-fA-F]{2})*$/.test(text)) throw new UsageError(`packet must be hex digits in pairs, got '${text.slice(0, 40)}'`);
  return Buffer.from(text, 'hex');
}

function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

interface EncodeOptions {
  authoritySecret: string;
  nodePublic: string;
  nodeId: string;
  epoch: string;
  opcode: string;
  arg: string;
  target: string;
  counter: string;
}

interface VerifyOptions {
  nodeSecret: string;
  authorityPublic: string;
  nodeId: string;
  highest?: string;
  groups?: string;
  epoch?: string;
}

export function register(program: Command): void {
  const packet = program.command('packet').description('Encode, verify or decode a 16-byte command packet (debugging, interop)');

  packet
    .command('encode')
    .description('Print the packet for one node as 32 hex digits')
    .requiredOption('--authority-secret <b64>', "the authority's command secret key")
    .requiredOption('--node-public <b64>', "the target node's public key")
    .requiredOption('--node-id <n>', 'node id of the target, 1..254')
    .requiredOption('--epoch <e>', 'key epoch, 0..63')
    .requiredOption('--opcode <o>', 'opcode, 0x01..0xFE')
    .requiredOption('--arg <a>', 'argument, 0..255')
    .requiredOption('--target <t>', 'target selector: node id 1..254, 0x0100 + group id, or 0xFFFF')
    .requiredOption('--counter <c>', 'command counter, 1..2^64-1')
    .action((opts: EncodeOptions) => {
      const secret = key(opts.authoritySecret, '--authority-secret');
      const nodePublic = key(opts.nodePublic, '--node-public');
      const nodeId = small(opts.nodeId, '--node-id', 1, 254);
      const epoch = small(opts.epoch, '--epoch', 0, 63);
      const opcode = small(opts.opcode, '--opcode', 1, 0xfe);
      const arg = small(opts.arg, '--arg', 0, 255);
      const selector = small(opts.target, '--target', 0, 0xffff);
      if (targetKind(selector) === 'reserved') throw new UsageError(`--target ${opts.target} is a reserved selector value`);
      const counter = parseNumber(opts.counter, '--counter', 1n, (1n << 64n) - 1n);
      const commandKey = withKeys(() => deriveHmacKey(pairSecret(secret, nodePublic), 'command', epoch, nodeId));
      process.stdout.write(`${encodePacket({ epoch, opcode, arg, selector }, counter, commandKey).toString('hex')}\n`);
    });

  packet
    .command('verify')
    .description('Verify a packet as node N would; prints JSON; exit 0 accepted, 1 rejected, 2 bad arguments')
    .argument('<hex>', 'the packet as hex')
    .requiredOption('--node-secret <b64>', "the node's secret key")
    .requiredOption('--authority-public <b64>', "the authority's command public key")
    .requiredOption('--node-id <n>', 'node id, 1..254')
    .option('--highest <h>', "H: the highest counter the node accepted in the packet's epoch", '0')
    .option('--groups <list>', 'comma-separated group ids the node belongs to')
    .option('--epoch <e>', "the node's current key epoch (default: the packet's); E-1 is accepted as the previous one")
    .action((hex: string, opts: VerifyOptions) => {
      const bytes = parseHex(hex);
      const secret = key(opts.nodeSecret, '--node-secret');
      const authorityPublic = key(opts.authorityPublic, '--authority-public');
      const nodeId = small(opts.nodeId, '--node-id', 1, 254);
      const highest = parseNumber(opts.highest ?? '0', '--highest', 0n, (1n << 64n) - 1n);
      const groups = opts.groups === undefined ? [] : opts.groups.split(',').map((g) => small(g.trim(), '--groups', 0, 255));
      const fields = bytes.length === PACKET_LENGTH ? decodePacket(bytes) : undefined;
      const epoch = opts.epoch === undefined ? (fields?.epoch ?? 0) : small(opts.epoch, '--epoch', 0, 63);
      const verifier = withKeys(() =>
        createVerifier({
          nodeSecret: secret,
          authorityPublic,
          nodeId,
          groups,
          epoch,
          previousEpoch: epoch > 0 ? epoch - 1 : undefined,
          state: memoryNodeState(fields ? { [fields.epoch]: { highest } } : {}),
        }),
      );
      const result = verifier.verify(bytes);
      const isCommand = fields !== undefined && fields.version === COMMAND_VERSION;
      printJson({
        ok: result.ok,
        reason: result.ok ? null : result.reason,
        counter: result.ok ? result.counter.toString() : isCommand ? reconstructCounter(highest, fields.counterLow24).toString() : null,
        epoch: fields?.epoch ?? null,
        opcode: fields?.opcode ?? null,
        arg: fields?.arg ?? null,
        target: fields?.selector ?? null,
      });
      process.exitCode = result.ok ? 0 : 1;
    });

  packet
    .command('decode')
    .description('Print the fields of a 16-byte packet as JSON, without verifying anything')
    .argument('<hex>', 'the packet as 32 hex digits')
    .action((hex: string) => {
      const bytes = parseHex(hex);
      if (bytes.length !== PACKET_LENGTH) throw new UsageError(`a command packet is ${PACKET_LENGTH} bytes, got ${bytes.length}`);
      const p = decodePacket(bytes);
      printJson({
        version: p.version,
        command: p.version === COMMAND_VERSION,
        epoch: p.epoch,
        opcode: p.opcode,
        arg: p.arg,
        target: p.selector,
        targetKind: targetKind(p.selector),
        counterLow24: p.counterLow24,
        tag: p.tag.toString('hex'),
      });
    });
}
