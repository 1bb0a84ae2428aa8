// TAI64N timestamps for handshake initiations (whitepaper §5.4.2): a responder accepts an
// initiation only if its timestamp is greater than the last one it accepted from that peer.
// As wireguard-go does, the nanoseconds are rounded down to about 16 ms so the timestamp does
// not leak a precise clock.

export const TAI64N_SIZE = 12;
const TAI64_BASE = 0x400000000000000an; // 2^62 + 10 leap seconds, as wireguard-go
const WHITENER_MASK = 0x1000000 - 1;

export function tai64n(epochMs: number): Uint8Array {
  const out = new Uint8Array(TAI64N_SIZE);
  const view = new DataView(out.buffer);
  const seconds = Math.floor(epochMs / 1000);
  const nanos = Math.floor((epochMs - seconds * 1000) * 1e6);
  view.setBigUint64(0, TAI64_BASE + BigInt(seconds));
  view.setUint32(8, (nanos & ~WHITENER_MASK) >>> 0);
  return out;
}

/** True when a is strictly later than b (big-endian fields compare as bytes). */
export function tai64nAfter(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) > 0;
}
