// The operator's bearer token: generated into the instance directory (made by the node service)
// on first start (0600),
// compared in constant time, never logged or echoed.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { F8_TOKEN_FILE } from '../../core/sdk/index.js';

export function loadOrCreateToken(instanceDir: string): string {
  const path = join(instanceDir, F8_TOKEN_FILE);
  if (!existsSync(path)) {
    writeFileSync(path, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  }
  const token = readFileSync(path, 'utf8').trim();
  if (token.length < 32) throw new Error(`${path} holds a token shorter than 32 characters; delete it to have a new one made`);
  return token;
}

/** Compares digests so that neither the length nor the content of the token leaks through timing. */
export function tokenChecker(token: string): (authorization: string | undefined) => boolean {
  const expected = createHash('sha256').update(token).digest();
  return (authorization) => {
    const given = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1] ?? '';
    return timingSafeEqual(createHash('sha256').update(given).digest(), expected);
  };
}
