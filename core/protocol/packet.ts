// The 16-byte command packet (shared/spec/command-packet.md, "Layout"). This module only moves
// fields in and out of bytes; whether a packet may be sent or accepted is decided elsewhere.
import type { KeyObject } from 'node:crypto';
import { writeTag } from './tag.js';
import { checkCounter } from './counter.js';

export const PACKET_LENGTH = 16;
/** Bits 7–6 of byte 0 of a command packet. `10` is the genesis beacon; `00` and `11` are not commands. */
export const COMMAND_VERSION = 0b01;

export interface CommandFields {
  /** Key epoch, 0..63. */
  epoch: number;
  /** Intent token, high byte. */
  opcode: number;
  /** Intent token, low byte. */
  arg: number;
  /** Target selector, see target.ts. */
  selector: number;
}

export interface DecodedPacket extends CommandFields {
  /** Bits 7–6 of byte 0; only COMMAND_VERSION is a command packet. */
  version: number;
  /** The low 24 bits of the counter, as carried. */
  counterLow24: number;
  tag: Buffer;
}

function checkByte(value: number, name: string, max = 255): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`${name} must be an integer in 0..${max}, got ${value}`);
  }
}

/** Reads the fields of a 16-byte packet without checking anything else. */
export function decodePacket(bytes: Uint8Array): DecodedPacket {
  if (bytes.length !== PACKET_LENGTH) throw new RangeError(`a command packet is ${PACKET_LENGTH} bytes, got ${bytes.length}`);
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  return {
    version: b[0] >> 6,
    epoch: b[0] & 0x3f,
    opcode: b[1],
    arg: b[2],
    selector: b.readUInt16BE(3),
    counterLow24: b.readUIntBE(5, 3),
    tag: Buffer.from(b.subarray(8, 16)),
  };
}

/**
 * Builds a packet for `counter` and tags it with the node's command key. Any field value that
 * fits is written, reserved ones included (test vectors need them); the signer applies policy.
 */
export function encodePacket(fields: CommandFields, counter: bigint, key: KeyObject): Buffer {
  checkByte(fields.epoch, 'key epoch', 63);
  checkByte(fields.opcode, 'opcode');
  checkByte(fields.arg, 'argument');
  checkByte(fields.selector, 'target selector', 0xffff);
  checkCounter(counter);
  const packet = Buffer.alloc(PACKET_LENGTH);
  packet[0] = (COMMAND_VERSION << 6) | fields.epoch;
  packet[1] = fields.opcode;
  packet[2] = fields.arg;
  packet.writeUInt16BE(fields.selector, 3);
  packet.writeUIntBE(Number(counter & 0xffffffn), 5, 3);
  writeTag(key, counter, packet);
  return packet;
}
