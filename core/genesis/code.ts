// Codes people read off one screen and type or compare on another (join requests, claims):
// 8 characters of Crockford base32 (40 bits), shown as ABCD-EFGH. Entry is forgiving the way
// Crockford intended: any case, dashes and spaces ignored, I and L read as 1, O as 0.
import { randomBytes } from 'node:crypto';

export const CODE_LENGTH = 8;
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export class InvalidCodeError extends Error {
  override name = 'InvalidCodeError';
}

/** A fresh random code, normalised (no dash). */
export function newCode(): string {
  const bits = randomBytes(5).reduce((n, b) => (n << 8n) | BigInt(b), 0n);
  let code = '';
  for (let i = CODE_LENGTH - 1; i >= 0; i--) code += ALPHABET[Number((bits >> BigInt(5 * i)) & 31n)];
  return code;
}

/** The canonical form of a typed code; throws InvalidCodeError saying what is wrong with it. */
export function normaliseCode(input: string): string {
  const code = input
    .toUpperCase()
    .replace(/[\s-]/g, '')
    .replace(/[IL]/g, '1')
    .replace(/O/g, '0');
  const bad = [...code].find((c) => !ALPHABET.includes(c));
  if (bad !== undefined) {
    const why = bad === 'U' ? "'U' is not used in these codes" : `'${bad}' is not a code character`;
    throw new InvalidCodeError(`invalid code: ${why} (codes use 0-9 and A-Z without I, L, O, U)`);
  }
  if (code.length !== CODE_LENGTH) throw new InvalidCodeError(`invalid code: ${CODE_LENGTH} characters expected, got ${code.length}`);
  return code;
}

/** ABCD-EFGH, for screens. */
export function formatCode(code: string): string {
  return `${code.slice(0, 4)}-${code.slice(4)}`;
}
