// ChaCha20-Poly1305 (IETF, 96-bit nonce) for the data path, through one of two backends:
//  - 'sodium': libsodium through sodium-native's prebuilt binary. One call per packet, no cipher
//    object, sealing and opening in place (libsodium allows the output to be the input), so a
//    transport datagram costs no allocation beyond the datagram itself. 7.5× node:crypto at
//    64 B and 3.9× at 1,400 B here (docs/wireguard.md has the figures; `npm run bench wireguard`).
//  - 'node': node:crypto, the fallback when the binary cannot load. It can only make a new
//    cipher object for every packet (createCipheriv has no reset), which is most of its cost.
// Both produce the same bytes; test/wireguard/aead.test.ts seals with each and opens with the other.
//
// Which one: `PPN_WG_AEAD=node|sodium` in the environment, or the device's `aead` option;
// 'sodium' when it loads, else 'node'. Asking for 'sodium' when it cannot load is an error.
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { createRequire } from 'node:module';

export const TAG_LEN = 16;
export const NONCE_LEN = 12;
export const AEAD_NAMES = ['sodium', 'node'] as const;
export type AeadName = (typeof AEAD_NAMES)[number];

export interface Aead {
  readonly name: AeadName;
  /**
   * Seals `buf[0, length − TAG_LEN)` in place: ciphertext over the plaintext, the tag in the
   * last TAG_LEN bytes. `buf` must be exactly plaintext + TAG_LEN long.
   */
  sealInPlace(key: Uint8Array, nonce: Uint8Array, buf: Uint8Array, aad?: Uint8Array): void;
  /**
   * Opens a box (ciphertext ‖ tag); the plaintext, or null when it does not authenticate. The
   * plaintext may be `box`'s own memory (sodium decrypts in place, and zeroes it when the tag is
   * wrong), so the caller must not need the box afterwards either way.
   */
  openInPlace(key: Uint8Array, nonce: Uint8Array, box: Uint8Array, aad?: Uint8Array): Buffer | null;
}

/** sodium-native's two functions we use (it ships no types). */
interface Sodium {
  crypto_aead_chacha20poly1305_ietf_encrypt(c: Uint8Array, m: Uint8Array, ad: Uint8Array | null, nsec: null, npub: Uint8Array, k: Uint8Array): number;
  crypto_aead_chacha20poly1305_ietf_decrypt(m: Uint8Array, nsec: null, c: Uint8Array, ad: Uint8Array | null, npub: Uint8Array, k: Uint8Array): number;
}

function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

function sodiumAead(sodium: Sodium): Aead {
  return {
    name: 'sodium',
    sealInPlace(key, nonce, buf, aad) {
      sodium.crypto_aead_chacha20poly1305_ietf_encrypt(buf, buf.subarray(0, buf.length - TAG_LEN), aad ?? null, null, nonce, key);
    },
    openInPlace(key, nonce, box, aad) {
      if (box.length < TAG_LEN) return null;
      const plaintext = box.subarray(0, box.length - TAG_LEN);
      try {
        sodium.crypto_aead_chacha20poly1305_ietf_decrypt(plaintext, null, box, aad ?? null, nonce, key);
      } catch {
        return null;
      }
      return asBuffer(plaintext);
    },
  };
}

const nodeAead: Aead = {
  name: 'node',
  sealInPlace(key, nonce, buf, aad) {
    const length = buf.length - TAG_LEN;
    const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_LEN });
    if (aad) c.setAAD(aad);
    buf.set(c.update(buf.subarray(0, length)));
    c.final();
    buf.set(c.getAuthTag(), length);
  },
  openInPlace(key, nonce, box, aad) {
    if (box.length < TAG_LEN) return null;
    const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_LEN });
    if (aad) d.setAAD(aad);
    d.setAuthTag(box.subarray(box.length - TAG_LEN));
    const plaintext = d.update(box.subarray(0, box.length - TAG_LEN));
    try {
      d.final();
    } catch {
      return null;
    }
    return plaintext;
  },
};

let sodiumLoad: { aead: Aead } | { error: string } | undefined;

function loadSodium(): { aead: Aead } | { error: string } {
  if (!sodiumLoad) {
    try {
      sodiumLoad = { aead: sodiumAead(createRequire(import.meta.url)('sodium-native') as Sodium) };
    } catch (err) {
      sodiumLoad = { error: (err as Error).message };
    }
  }
  return sodiumLoad;
}

/** Why sodium-native cannot be used here, or undefined when it can. */
export function sodiumUnavailable(): string | undefined {
  const s = loadSodium();
  return 'error' in s ? s.error : undefined;
}

/**
 * The backend `name` (or `PPN_WG_AEAD`, or the fastest that loads). Throws on an unknown name,
 * or when 'sodium' is asked for and its binary does not load.
 */
export function aeadBackend(name: string | undefined = process.env.PPN_WG_AEAD || undefined): Aead {
  if (name !== undefined && !(AEAD_NAMES as readonly string[]).includes(name)) {
    throw new Error(`unknown AEAD backend '${name}' (PPN_WG_AEAD or the aead option): ${AEAD_NAMES.join(' or ')}`);
  }
  if (name === 'node') return nodeAead;
  const s = loadSodium();
  if ('aead' in s) return s.aead;
  if (name === 'sodium') throw new Error(`AEAD backend 'sodium' asked for, but sodium-native does not load: ${s.error}`);
  return nodeAead;
}

/** The 96-bit nonce from a 64-bit counter (little-endian, after 32 zero bits), into `out`. */
export function writeNonce(out: Uint8Array, counter: number | Uint8Array): Uint8Array {
  out.fill(0, 0, 4);
  if (typeof counter === 'number') {
    const view = new DataView(out.buffer, out.byteOffset, NONCE_LEN);
    view.setUint32(4, counter >>> 0, true);
    view.setUint32(8, Math.floor(counter / 2 ** 32), true);
  } else {
    out.set(counter, 4);
  }
  return out;
}
