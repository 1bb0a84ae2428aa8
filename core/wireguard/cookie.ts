// mac1, mac2 and cookie replies (whitepaper §5.3, §5.4.7). Every handshake message carries mac1,
// keyed by the receiver's public key, so a responder spends no DH on strangers. Under load, the
// responder also wants mac2, keyed by a cookie it gave out for the sender's address: a sender
// that cannot receive at that address cannot make the responder do work.
import { randomBytes } from 'node:crypto';
import { LABEL_COOKIE, LABEL_MAC1 } from './constants.js';
import { hash, mac, xaeadOpen, xaeadSeal } from './crypto.js';
import {
  decodeCookieReply, encodeCookieReply, INITIATION_MAC1_OFFSET, MAC_SIZE, MESSAGE_INITIATION, RESPONSE_MAC1_OFFSET,
} from './messages.js';

function mac1Offset(message: Uint8Array): number {
  return message[0] === MESSAGE_INITIATION ? INITIATION_MAC1_OFFSET : RESPONSE_MAC1_OFFSET;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < a.length && i < b.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** The responder's side: checks macs on handshake messages addressed to `localPublic`. */
export interface CookieChecker {
  mac1Key: Uint8Array;
  cookieKey: Uint8Array;
  secret: Uint8Array;
  secretSetAt: number;
}

export function createCookieChecker(localPublic: Uint8Array): CookieChecker {
  return {
    mac1Key: hash(Buffer.from(LABEL_MAC1), localPublic),
    cookieKey: hash(Buffer.from(LABEL_COOKIE), localPublic),
    secret: new Uint8Array(32),
    secretSetAt: -Infinity,
  };
}

export function checkMac1(c: CookieChecker, message: Uint8Array): boolean {
  const off = mac1Offset(message);
  return equal(mac(c.mac1Key, message.subarray(0, off)), message.subarray(off, off + MAC_SIZE));
}

/** The cookie a sender at `source` should be using now; the secret rotates every refresh period. */
function currentCookie(c: CookieChecker, source: Uint8Array, now: number, refreshTime: number): Uint8Array {
  if (now - c.secretSetAt > refreshTime) {
    c.secret = new Uint8Array(randomBytes(32));
    c.secretSetAt = now;
  }
  return mac(c.secret, source);
}

export function checkMac2(c: CookieChecker, message: Uint8Array, source: Uint8Array, now: number, refreshTime: number): boolean {
  const off = mac1Offset(message) + MAC_SIZE;
  const cookie = currentCookie(c, source, now, refreshTime);
  return equal(mac(cookie, message.subarray(0, off)), message.subarray(off, off + MAC_SIZE));
}

/** The reply that hands `source` its cookie, bound to the mac1 of the message it answers. */
export function createCookieReply(
  c: CookieChecker, message: Uint8Array, receiverIndex: number, source: Uint8Array, now: number, refreshTime: number,
): Buffer {
  const off = mac1Offset(message);
  const nonce = new Uint8Array(randomBytes(24));
  const cookie = currentCookie(c, source, now, refreshTime);
  const encryptedCookie = xaeadSeal(c.cookieKey, nonce, cookie, message.subarray(off, off + MAC_SIZE));
  return encodeCookieReply({ receiver: receiverIndex, nonce, encryptedCookie });
}

/** The sender's side, one per peer: fills the macs of messages to `remotePublic`, keeps its cookie. */
export interface CookieGenerator {
  mac1Key: Uint8Array;
  cookieKey: Uint8Array;
  cookie?: Uint8Array;
  cookieSetAt: number;
  /** mac1 of the last handshake message sent: a cookie reply must be bound to it. */
  lastMac1?: Uint8Array;
}

export function createCookieGenerator(remotePublic: Uint8Array): CookieGenerator {
  return {
    mac1Key: hash(Buffer.from(LABEL_MAC1), remotePublic),
    cookieKey: hash(Buffer.from(LABEL_COOKIE), remotePublic),
    cookieSetAt: -Infinity,
  };
}

/** Writes mac1, and mac2 if a cookie younger than the refresh period is held (else mac2 stays zero). */
export function addMacs(g: CookieGenerator, message: Buffer, now: number, refreshTime: number): void {
  const off = mac1Offset(message);
  const mac1 = mac(g.mac1Key, message.subarray(0, off));
  message.set(mac1, off);
  g.lastMac1 = mac1;
  if (g.cookie && now - g.cookieSetAt < refreshTime) {
    message.set(mac(g.cookie, message.subarray(0, off + MAC_SIZE)), off + MAC_SIZE);
  } else {
    message.fill(0, off + MAC_SIZE, off + 2 * MAC_SIZE);
  }
}

/** Takes the cookie from a reply to our last handshake message; false if it is not one. */
export function consumeCookieReply(g: CookieGenerator, reply: Uint8Array, now: number): boolean {
  if (!g.lastMac1) return false;
  const m = decodeCookieReply(reply);
  const cookie = xaeadOpen(g.cookieKey, m.nonce, m.encryptedCookie, g.lastMac1);
  if (!cookie) return false;
  g.cookie = cookie;
  g.cookieSetAt = now;
  // One reply per message: a second copy must not refresh the cookie's age.
  g.lastMac1 = undefined;
  return true;
}
