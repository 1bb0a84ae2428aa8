// The four WireGuard messages on the wire (whitepaper §5.4). Integers are little-endian; the
// type is a 32-bit word, so the three "reserved" bytes must be zero (wireguard-go reads it so).
// Decoders return views into the datagram, never copies.

export const MESSAGE_INITIATION = 1;
export const MESSAGE_RESPONSE = 2;
export const MESSAGE_COOKIE_REPLY = 3;
export const MESSAGE_TRANSPORT = 4;

export const INITIATION_SIZE = 148;
export const RESPONSE_SIZE = 92;
export const COOKIE_REPLY_SIZE = 64;
export const TRANSPORT_HEADER_SIZE = 16;
/** A keepalive: the header and the tag of an empty plaintext. */
export const TRANSPORT_MIN_SIZE = 32;

/** Where mac1 and mac2 start in the two handshake messages: each MAC covers all bytes before it. */
export const INITIATION_MAC1_OFFSET = 116;
export const RESPONSE_MAC1_OFFSET = 60;
export const MAC_SIZE = 16;

export function messageType(d: Uint8Array): number {
  if (d.length < 4 || d[1] !== 0 || d[2] !== 0 || d[3] !== 0) return 0;
  const t = d[0];
  const expected = [0, INITIATION_SIZE, RESPONSE_SIZE, COOKIE_REPLY_SIZE][t];
  if (t === MESSAGE_TRANSPORT) return d.length >= TRANSPORT_MIN_SIZE ? t : 0;
  return expected !== undefined && expected !== 0 && d.length === expected ? t : 0;
}

function view(d: Uint8Array): DataView {
  return new DataView(d.buffer, d.byteOffset, d.byteLength);
}

export interface Initiation {
  sender: number;
  ephemeral: Uint8Array;
  encryptedStatic: Uint8Array;
  encryptedTimestamp: Uint8Array;
}

export function encodeInitiation(m: Initiation): Buffer {
  const d = Buffer.alloc(INITIATION_SIZE);
  d[0] = MESSAGE_INITIATION;
  d.writeUInt32LE(m.sender, 4);
  d.set(m.ephemeral, 8);
  d.set(m.encryptedStatic, 40);
  d.set(m.encryptedTimestamp, 88);
  return d;
}

export function decodeInitiation(d: Uint8Array): Initiation {
  return {
    sender: view(d).getUint32(4, true),
    ephemeral: d.subarray(8, 40),
    encryptedStatic: d.subarray(40, 88),
    encryptedTimestamp: d.subarray(88, 116),
  };
}

export interface Response {
  sender: number;
  receiver: number;
  ephemeral: Uint8Array;
  encryptedNothing: Uint8Array;
}

export function encodeResponse(m: Response): Buffer {
  const d = Buffer.alloc(RESPONSE_SIZE);
  d[0] = MESSAGE_RESPONSE;
  d.writeUInt32LE(m.sender, 4);
  d.writeUInt32LE(m.receiver, 8);
  d.set(m.ephemeral, 12);
  d.set(m.encryptedNothing, 44);
  return d;
}

export function decodeResponse(d: Uint8Array): Response {
  const v = view(d);
  return {
    sender: v.getUint32(4, true),
    receiver: v.getUint32(8, true),
    ephemeral: d.subarray(12, 44),
    encryptedNothing: d.subarray(44, 60),
  };
}

export interface CookieReply {
  receiver: number;
  nonce: Uint8Array;
  encryptedCookie: Uint8Array;
}

export function encodeCookieReply(m: CookieReply): Buffer {
  const d = Buffer.alloc(COOKIE_REPLY_SIZE);
  d[0] = MESSAGE_COOKIE_REPLY;
  d.writeUInt32LE(m.receiver, 4);
  d.set(m.nonce, 8);
  d.set(m.encryptedCookie, 32);
  return d;
}

export function decodeCookieReply(d: Uint8Array): CookieReply {
  return { receiver: view(d).getUint32(4, true), nonce: d.subarray(8, 32), encryptedCookie: d.subarray(32, 64) };
}

export interface TransportHeader {
  receiver: number;
  /** The counter's 8 wire bytes: they are the AEAD nonce as they stand. */
  counterBytes: Uint8Array;
  counter: number;
}

export function decodeTransportHeader(d: Uint8Array): TransportHeader {
  const v = view(d);
  return {
    receiver: v.getUint32(4, true),
    counterBytes: d.subarray(8, 16),
    counter: v.getUint32(8, true) + v.getUint32(12, true) * 2 ** 32,
  };
}

/** Writes the 16-byte transport header in place at the start of `d`. */
export function writeTransportHeader(d: Buffer, receiver: number, counter: number): void {
  d.writeUInt32LE(MESSAGE_TRANSPORT, 0);
  d.writeUInt32LE(receiver, 4);
  d.writeUInt32LE(counter >>> 0, 8);
  d.writeUInt32LE(Math.floor(counter / 2 ** 32), 12);
}
