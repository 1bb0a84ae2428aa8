// `ppn keys gen | pub`: X25519 keys in exactly the text form of `wg genkey` and `wg pubkey`, so
// the two tools can be mixed freely.
//   ppn keys gen             prints a new secret, like `wg genkey` (pipe it into a file or `keys pub`)
//   ppn keys gen --out FILE  writes the secret to FILE (mode 0600, never over an existing file)
//                            and prints only the public key
//   ppn keys pub [FILE]      reads a secret from FILE or stdin and prints its public key
//   ppn keys rotate --node N | --all   moves nodes to a new command-key epoch (through F8; keys-rotate.ts)
//   ppn keys rotate-authority --genesis|--command   the authority's own keys, by a signed hand-over (keys-authority.ts)
//   ppn keys rotate-identity --instance DIR   the running node's own identity key (keys-identity.ts)
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

  keys
    .command('rotate')
    .description("Move nodes to a new command-key epoch: sends rotate-keys through the admin's F8 and follows each node's answer")
    .option('--node <id>', 'the node to move, by node id (1..254)')
    .option('--all', 'every node that takes commands')
    .option('-y, --yes', 'do not ask before sending (needed without a terminal)')
    .option('--json', 'print one JSON object at the end and nothing else')
    .option('--instance <dir>', "the admin's instance directory (its f8.token; F8's address from the running node)")
    .option('--f8-url <url>', 'F8 base URL, e.g. http://127.0.0.1:8085 (default: $PPN_F8_URL, else from --instance)')
    .option('--f8-token <token>', "F8 bearer token (default: $PPN_F8_TOKEN, else the instance's f8.token)")
    .addHelpText(
      'after',
      [
        '',
        'Each node moves to the epoch after its current one when it executes the command; the admin',
        'records it from the node\'s answer and signs under the new epoch from then on. Commands signed',
        "under the old epoch are still accepted for the node verifier's epochOverlapMs (default 60 s).",
        'Exit status as `ppn send`: 0 every node moved, 2 bad usage, 4 some failed, 5 some did not',
        'answer, 6 F8 refused, 7 not confirmed, 1 anything else.',
      ].join('\n'),
    )
    .action(async (opts) => {
      const { rotate } = await import('./keys-rotate.js');
      process.exitCode = await rotate(opts);
    });

  keys
    .command('rotate-identity')
    .description("On a node: a new identity key (its WireGuard key, its half of every derived key), proved to the authority with the old one, taken without downtime")
    .option('--instance <dir>', "the running node's instance directory")
    .option('--wait-ms <ms>', 'how long to wait for the authority to confirm', '30000')
    .option('--json', 'print one JSON object at the end and nothing else')
    .addHelpText(
      'after',
      [
        '',
        'The node makes the new key pair (a 0600 file in its instance directory until confirmed), moves',
        'itself to the next key epoch bound to it and asks the authority, again every few seconds until',
        'the authority records it (audited) and every peer and the hub are given the new key. The old key',
        "is still answered and bound to the epoch left for the node's identity.overlapMs (60 s), then deleted.",
        'Exit status: 0 confirmed, 2 bad usage, 5 not confirmed within --wait-ms (the node keeps asking),',
        '6 the node refused to begin (the reason is printed), 1 anything else.',
      ].join('\n'),
    )
    .action(async (opts) => {
      const { rotateIdentity } = await import('./keys-identity.js');
      process.exitCode = await rotateIdentity(opts);
    });

  keys
    .command('rotate-authority')
    .description("On the admin: new authority keys (genesis, command or both), handed over to every node by a message signed under the current genesis key")
    .option('--genesis', 'a new genesis key (signs beacons, claims, membership updates)')
    .option('--command', "a new command key (the authority's half of every node's command and telemetry keys)")
    .option('--overlap <duration>', 'how long nodes still accept the replaced key(s): 90s, 10m, 1h, 2d', '1h')
    .option('-y, --yes', 'do not ask first (needed without a terminal)')
    .option('--json', 'print one JSON object at the end and nothing else')
    .option('--instance <dir>', "the admin's instance directory", 'instance/admin')
    .addHelpText(
      'after',
      [
        '',
        "The new keys are 0600 files in the admin's instance directory (the replaced ones in retired/ until",
        'the overlap ends, then deleted); the hand-over is recorded in admin.db (audited) and the running',
        'admin sends it to every node on the sync port. Keys lost altogether: docs/keys.md, "Authority keys".',
        'Exit status: 0 handed over, 2 bad usage, 7 not confirmed, 1 anything else.',
      ].join('\n'),
    )
    .action(async (opts) => {
      const { rotateAuthority } = await import('./keys-authority.js');
      process.exitCode = await rotateAuthority(opts);
    });
}
