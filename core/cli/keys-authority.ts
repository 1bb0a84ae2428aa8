// `ppn keys rotate-authority [--genesis] [--command] [--overlap DURATION] [--yes]`, on the admin:
// makes the authority's new genesis and/or command key (0600 files in its instance directory),
// signs the hand-over under the current genesis key (the new genesis key counter-signs it) and
// records it in the admin's database (audited). The running admin sees it there, signs with the
// new genesis key from then on and sends the hand-over to every node on the sync port before
// their membership updates; each node pins the new key(s) and still accepts the replaced ones
// until the overlap ends (docs/keys.md, "Authority keys"). Nothing secret is printed.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { rotateAuthorityKeys } from '../genesis/authority-keys.js';
import { openHandoverLog } from '../registry/authority-handovers.js';
import { MAX_OVERLAP_SECONDS } from '../genesis/handover.js';
import { GENESIS_KEY_FILE, loadGenesisKey } from '../genesis/signing-key.js';
import { openRegistry } from '../registry/registry.js';
import { UsageError } from './cli-errors.js';
import { cliActor, DEFAULT_ADMIN_INSTANCE } from './nodes.js';
import { ask, SEND_EXIT } from './send.js';

export interface RotateAuthorityOptions {
  genesis?: boolean;
  command?: boolean;
  overlap?: string;
  yes?: boolean;
  json?: boolean;
  instance?: string;
}

export const DEFAULT_OVERLAP = '1h';
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** "90s", "10m", "1h", "2d" as seconds; anything else is a usage error. */
export function parseOverlap(text: string): number {
  const m = /^(\d{1,9})([smhd])$/.exec(text);
  if (!m) throw new UsageError(`--overlap takes a duration like 90s, 10m, 1h or 2d, got '${text}'`);
  const seconds = Number(m[1]) * UNIT_SECONDS[m[2]];
  if (seconds > MAX_OVERLAP_SECONDS) throw new UsageError(`--overlap ${text}: at most ${MAX_OVERLAP_SECONDS / 86400} days`);
  return seconds;
}

export async function rotateAuthority(opts: RotateAuthorityOptions): Promise<number> {
  if (!opts.genesis && !opts.command) throw new UsageError('keys rotate-authority: say which key: --genesis, --command or both');
  const overlapSeconds = parseOverlap(opts.overlap ?? DEFAULT_OVERLAP);
  const dir = resolve(opts.instance ?? DEFAULT_ADMIN_INSTANCE);
  if (!existsSync(join(dir, GENESIS_KEY_FILE)) || !existsSync(join(dir, 'admin.db'))) {
    throw new UsageError(`${dir} is not an authority's instance directory (no ${GENESIS_KEY_FILE} or admin.db; give the admin's --instance DIR)`);
  }
  const out = opts.json ? () => {} : (line: string) => console.log(line);
  const registry = openRegistry(join(dir, 'admin.db'));
  try {
    const log = openHandoverLog(registry);
    // Nodes keep one replaced key of each kind: a second hand-over of the same key within the
    // first one's overlap would end that overlap early on every node.
    const open = log.inOverlap(Date.now()).find((h) => (opts.genesis && h.genesisKey) || (opts.command && h.commandPublicKey));
    if (open) throw new UsageError(`hand-over ${open.number} of that key is still in its overlap, until ${new Date(open.overlapUntil).toISOString()}: rotate it again after that`);
    const which = [opts.genesis && 'genesis key', opts.command && 'command key'].filter(Boolean).join(' and ');
    out(`rotate the authority's ${which} in ${dir} (current genesis key ${loadGenesisKey(dir, false).publicText}); the replaced key(s) stay accepted for ${opts.overlap ?? DEFAULT_OVERLAP}`);
    if (!opts.yes) {
      const agreed = !opts.json && process.stdin.isTTY && process.stdout.isTTY && (await ask(`hand every node over to a new ${which}? [y/N] `));
      if (!agreed) {
        out('not rotated: not confirmed (run with --yes without a terminal)');
        if (opts.json) console.log(JSON.stringify({ exitCode: SEND_EXIT.notConfirmed, error: 'not confirmed' }, null, 2));
        return SEND_EXIT.notConfirmed;
      }
    }
    out(`making the new ${which} (0600) and signing hand-over ${(log.latest()?.number ?? 0) + 1}`);
    const h = rotateAuthorityKeys(dir, registry, { genesis: !!opts.genesis, command: !!opts.command, overlapSeconds, actor: cliActor() });
    if (h.genesisKey) out(`new genesis key ${h.genesisKey} (it counter-signed the hand-over)`);
    if (h.commandPublicKey) out(`new command key ${h.commandPublicKey}`);
    out(`hand-over ${h.number} recorded: the running admin sends it to every node before their next membership update (and with every re-push) until ${new Date(h.overlapUntil).toISOString()}`);
    out('the replaced key files are in retired/ until then, and deleted after it; new bundles and claims carry the new key(s)');
    if (opts.json) {
      console.log(JSON.stringify({ exitCode: 0, handover: h.number, genesisKey: h.genesisKey ?? null, commandPublicKey: h.commandPublicKey ?? null, overlapUntil: new Date(h.overlapUntil).toISOString() }, null, 2));
    }
    return 0;
  } finally {
    registry.close();
  }
}
