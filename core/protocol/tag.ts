// tag = first 8 bytes of HMAC-SHA256(K, u64be(C) ‖ bytes 0..7 of the packet). The full counter is
// authenticated although only its low 24 bits travel, so a wrongly reconstructed counter fails
// the tag check instead of slipping past the replay window.
//
// HMAC-SHA256 through libsodium's SHA-256 (sodium-native) when its binary loads: the key's inner
// and outer pad blocks are hashed once per key and their states copied for every tag, so a tag
// is two SHA-256 compressions and no objects (2.5× node:crypto's createHmac here; figures in
// docs/wireguard.md). node:crypto is the fallback, or chosen with PPN_PROTOCOL_HMAC=node; both
// give the same bytes (test/protocol/tag-hmac.test.ts).
import { createHmac, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';

export const TAG_OFFSET = 8;
export const TAG_LENGTH = 8;

export const HMAC_NAMES = ['sodium', 'node'] as const;
export type HmacName = (typeof HMAC_NAMES)[number];
/** HMAC-SHA256(key, 16 bytes): the 32-byte digest (possibly a buffer reused by the next call). */
export type Hmac16 = (key: KeyObject, input: Buffer) => Uint8Array;

interface Sha256 {
  crypto_hash_sha256_STATEBYTES: number;
  crypto_hash_sha256_init(state: Uint8Array): void;
  crypto_hash_sha256_update(state: Uint8Array, input: Uint8Array): void;
  crypto_hash_sha256_final(state: Uint8Array, out: Uint8Array): void;
}

const nodeHmac: Hmac16 = (key, input) => createHmac('sha256', key).update(input).digest();

function sodiumHmac(sodium: Sha256): Hmac16 {
  const padStates = new WeakMap<KeyObject, { inner: Buffer; outer: Buffer }>();
  const state = Buffer.alloc(sodium.crypto_hash_sha256_STATEBYTES);
  const innerHash = Buffer.alloc(32);
  const out = Buffer.alloc(32);
  const padded = (key: Buffer, pad: number) => {
    // Keys up to the block size are used as they are (ours are 32 bytes); longer ones hashed first.
    const block = Buffer.alloc(64);
    if (key.length > 64) {
      sodium.crypto_hash_sha256_init(state);
      sodium.crypto_hash_sha256_update(state, key);
      sodium.crypto_hash_sha256_final(state, block.subarray(0, 32));
    } else {
      key.copy(block);
    }
    for (let i = 0; i < 64; i++) block[i] ^= pad;
    const s = Buffer.alloc(sodium.crypto_hash_sha256_STATEBYTES);
    sodium.crypto_hash_sha256_init(s);
    sodium.crypto_hash_sha256_update(s, block);
    block.fill(0);
    return s;
  };
  return (key, input) => {
    let pads = padStates.get(key);
    if (!pads) {
      const raw = key.export();
      pads = { inner: padded(raw, 0x36), outer: padded(raw, 0x5c) };
      raw.fill(0);
      padStates.set(key, pads);
    }
    pads.inner.copy(state);
    sodium.crypto_hash_sha256_update(state, input);
    sodium.crypto_hash_sha256_final(state, innerHash);
    pads.outer.copy(state);
    sodium.crypto_hash_sha256_update(state, innerHash);
    sodium.crypto_hash_sha256_final(state, out);
    return out;
  };
}

/** The HMAC backend `name` (default: PPN_PROTOCOL_HMAC, else sodium when it loads, else node). */
export function hmacBackend(name: string | undefined = process.env.PPN_PROTOCOL_HMAC || undefined): Hmac16 {
  if (name !== undefined && !(HMAC_NAMES as readonly string[]).includes(name)) {
    throw new Error(`unknown HMAC backend '${name}' (PPN_PROTOCOL_HMAC): ${HMAC_NAMES.join(' or ')}`);
  }
  if (name === 'node') return nodeHmac;
  try {
    return sodiumHmac(createRequire(import.meta.url)('sodium-native') as Sha256);
  } catch (err) {
    if (name === 'sodium') throw new Error(`HMAC backend 'sodium' asked for, but sodium-native does not load: ${(err as Error).message}`);
    return nodeHmac;
  }
}

const hmac16 = hmacBackend();

// One input buffer reused for every tag: JavaScript runs this synchronously, so it is never shared.
const input = Buffer.alloc(16);

function mac(key: KeyObject, counter: bigint, packet: Uint8Array): Uint8Array {
  input.writeBigUInt64BE(counter, 0);
  for (let i = 0; i < TAG_OFFSET; i++) input[8 + i] = packet[i];
  return hmac16(key, input);
}

/** Writes the tag into bytes 8..15 of `packet`, whose bytes 0..7 are already set. */
export function writeTag(key: KeyObject, counter: bigint, packet: Uint8Array): void {
  const full = mac(key, counter, packet);
  for (let i = 0; i < TAG_LENGTH; i++) packet[TAG_OFFSET + i] = full[i];
}

/**
 * Compares the packet's tag with the one computed for `counter` in constant time: every byte
 * is looked at, no early exit. (A plain loop here is cheaper than crypto.timingSafeEqual, whose
 * native call and the two views it needs cost about a tenth of the whole check.)
 */
export function tagMatches(key: KeyObject, counter: bigint, packet: Uint8Array): boolean {
  const full = mac(key, counter, packet);
  let difference = 0;
  for (let i = 0; i < TAG_LENGTH; i++) difference |= full[i] ^ packet[TAG_OFFSET + i];
  return difference === 0;
}
