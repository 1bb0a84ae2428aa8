// The authority's genesis beacon, broadcast on the underlay (UDP 8090) so that a node booting
// blind finds the authority's join endpoint without DNS or DHCP. Byte 0's version bits are `10`,
// which the command packet spec reserves for it. Layout (network byte order), in docs/genesis.md:
//   0    1  0x81: bits 7–6 = 10 (genesis beacon), bits 5–0 = 1 (beacon format 1)
//   1   32  the authority's genesis public key (Ed25519)
//   33   4  join endpoint, IPv4
//   37   2  join endpoint, TCP port
//   39   8  time, ms since the Unix epoch
//   47  64  Ed25519 signature over ASCII "ppn/beacon/v1" ‖ bytes 0..46
import { KEY_LENGTH } from '../keys/index.js';
import type { Endpoint } from '../underlay/endpoint.js';
import { signatureVerifier, SIGNATURE_LENGTH, type GenesisKey } from './signing-key.js';

export const BEACON_TYPE = 0x81;
export const BEACON_LENGTH = 47 + SIGNATURE_LENGTH;
const SIGNED_LENGTH = 47;
const DOMAIN = Buffer.from('ppn/beacon/v1');

export interface Beacon {
  authorityKey: Buffer;
  joinEndpoint: Endpoint;
  /** Authority time, ms since the epoch. */
  at: number;
}

export function encodeBeacon(key: GenesisKey, joinEndpoint: Endpoint, at: number): Buffer {
  const b = Buffer.alloc(BEACON_LENGTH);
  b[0] = BEACON_TYPE;
  key.publicKey.copy(b, 1);
  joinEndpoint.host.split('.').forEach((octet, i) => (b[33 + i] = Number(octet)));
  b.writeUInt16BE(joinEndpoint.port, 37);
  b.writeBigUInt64BE(BigInt(at), 39);
  key.sign(Buffer.concat([DOMAIN, b.subarray(0, SIGNED_LENGTH)])).copy(b, SIGNED_LENGTH);
  return b;
}

export const BEACON_REJECTS = ['not-a-beacon', 'unknown-authority', 'forged', 'stale', 'replayed'] as const;
export type BeaconReject = (typeof BEACON_REJECTS)[number];
export type BeaconResult = ({ ok: true } & Beacon) | { ok: false; reason: BeaconReject };

export interface BeaconCheckerOptions {
  /** The pinned authority's genesis public key. */
  authorityKey: Buffer;
  /** How far a beacon's time may be from this node's clock, either way. */
  freshnessMs: number;
  /** The newest beacon time accepted before (kept across restarts): only later ones pass. */
  lastAccepted: number;
  now(): number;
}

/**
 * Checks datagrams against the pinned authority: cheap tests first, the signature last, so a
 * flood of junk costs little. Every rejection is counted by reason.
 */
export function createBeaconChecker(options: BeaconCheckerOptions) {
  const verify = signatureVerifier(options.authorityKey);
  let last = options.lastAccepted;
  const rejected = Object.fromEntries(BEACON_REJECTS.map((r) => [r, 0])) as Record<BeaconReject, number>;
  const reject = (reason: BeaconReject): BeaconResult => {
    rejected[reason]++;
    return { ok: false, reason };
  };
  return {
    check(datagram: Uint8Array): BeaconResult {
      const b = Buffer.from(datagram.buffer, datagram.byteOffset, datagram.byteLength);
      if (b.length !== BEACON_LENGTH || b[0] !== BEACON_TYPE) return reject('not-a-beacon');
      if (!b.subarray(1, 1 + KEY_LENGTH).equals(options.authorityKey)) return reject('unknown-authority');
      if (!verify(Buffer.concat([DOMAIN, b.subarray(0, SIGNED_LENGTH)]), b.subarray(SIGNED_LENGTH))) return reject('forged');
      const at = Number(b.readBigUInt64BE(39));
      if (Math.abs(at - options.now()) > options.freshnessMs) return reject('stale');
      if (at <= last) return reject('replayed');
      last = at;
      const joinEndpoint = { host: [...b.subarray(33, 37)].join('.'), port: b.readUInt16BE(37) };
      return { ok: true, authorityKey: Buffer.from(options.authorityKey), joinEndpoint, at };
    },
    get lastAccepted() {
      return last;
    },
    rejected,
  };
}
