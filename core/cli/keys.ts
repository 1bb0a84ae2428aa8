// `ppn keys gen | pub`: X25519 keys in exactly the text form of `wg genkey` and `wg pubkey`, so
// the two tools can be mixed freely.
//   ppn keys gen             prints a new secret, like `wg genkey` (pipe it into a file or `keys pub`)
//   ppn keys gen --out FILE  writes the secret to FILE (mode 0600, never over an existing file)
//                            and prints only the public key
//   ppn keys pub [FILE]      reads a secret from FILE or stdin and prints its public key
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { InvalidKeyError, formatKey, generateSecret, parseKey, publicKeyOf } from '../keys/index.js';
import { asUsageError, UsageError } from './cli-errors.js';

function readSecret(file: string | undefined): Buffer {
  const source = file === undefined || file === '-' ? 'stdin' : file;
  let text: string;
  try {
    text = readFileSync(source === 'stdin' ? 0 : source, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read the secret from ${source}: ${code === 'ENOENT' ? 'no such file' : code ?? 'read failed'}`);
  }
  return asUsageError(() => parseKey(text, `secret key in ${source}`), InvalidKeyError);
}

export function register(program: Command): void {
  const keys = program.command('keys').description('X25519 keys in WireGuard format (base64 of 32 bytes)');

  keys
    .command('gen')
    .description('Generate a secret key: printed like `wg genkey`, or with --out written to a 0600 file while the public key is printed')
    .option('--out <file>', 'write the secret here (mode 0600; refuses an existing file) and print the public key instead')
    .action((opts: { out?: string }) => {
      const secret = generateSecret();
      if (opts.out === undefined) {
        process.stdout.write(`${formatKey(secret)}\n`);
        return;
      }
      try {
        writeFileSync(opts.out, `${formatKey(secret)}\n`, { mode: 0o600, flag: 'wx' });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') throw new UsageError(`${opts.out} already exists; not overwriting a key file`);
        throw new UsageError(`cannot create ${opts.out}: ${code ?? 'write failed'}`);
      }
      process.stdout.write(`${formatKey(publicKeyOf(secret))}\n`);
    });

  keys
    .command('pub')
    .description('Print the public key of a secret read from FILE or stdin, like `wg pubkey`')
    .argument('[file]', 'file holding the secret key (default: stdin)')
    .action((file: string | undefined) => {
      process.stdout.write(`${formatKey(publicKeyOf(readSecret(file)))}\n`);
    });
}
