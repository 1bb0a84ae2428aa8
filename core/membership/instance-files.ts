// The files of a node's instance directory. Secrets are written 0600 inside a 0700 folder and
// never logged; JSON files are replaced atomically so a crash never leaves half a file.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { formatKey, generateSecret, parseKey } from '../keys/index.js';

/** The newest beacon and membership update a node accepted (core/genesis/authority-pin.ts reads and writes it). */
export const GENESIS_STATE_FILE = 'genesis-state.json';

export function ensureInstanceDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/** Reads the base64 X25519 secret in `dir/name`, creating it (0600) if `create` and missing. */
export function loadSecret(dir: string, name: string, create: boolean): Buffer {
  const path = join(dir, name);
  if (!existsSync(path)) {
    if (!create) throw new Error(`${path} is missing (create it with \`ppn keys gen --out ${path}\`)`);
    ensureInstanceDir(dir);
    writeFileSync(path, `${formatKey(generateSecret())}\n`, { mode: 0o600, flag: 'wx' });
  }
  const mode = statSync(path).mode & 0o777;
  if (mode & 0o077) {
    // Tighten rather than refuse: a key left readable by others is closed before it is read.
    chmodSync(path, 0o600);
  }
  return parseKey(readFileSync(path, 'utf8'), path);
}

export function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `${path} is missing` : `${path}: ${(err as Error).message}`);
  }
}

export function writeJsonAtomic(path: string, value: unknown, mode = 0o600): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n', { mode });
  renameSync(tmp, path);
}
