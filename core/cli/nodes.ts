// `ppn nodes list | approve | revoke | rename`: the pairing registry from the admin's machine.
// These open the admin's database directly (SQLite in WAL mode takes a second writer), so they
// work whether the admin runs or not; a running admin notices within its poll interval and
// updates its peers and every node's. F8 offers the same operations to remote operators.
//   ppn nodes list [--json]               every node: id, address, name, role, status, join code,
//                                         health (by heartbeat age) and the facts of its last report
//   ppn nodes approve <id|join-code>      admit a pending node
//   ppn nodes revoke <id>                 revoke a node: no more commands, its traffic refused
//   ppn nodes rename <id> <name>
import { existsSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { isNodeId, MAX_NODE_ID, MIN_NODE_ID } from '../fleet/addresses.js';
import { formatCode, InvalidCodeError, normaliseCode } from '../genesis/code.js';
import { openPairing, PairingError, type PairedNode, type Pairing } from '../genesis/pairing.js';
import { nodeHealth } from '../registry/health.js';
import { openRegistry, type RegistryNode } from '../registry/registry.js';
import { asUsageError, UsageError } from './cli-errors.js';

export const DEFAULT_ADMIN_INSTANCE = 'instance/admin';
const REGISTRY_FILE = 'admin.db';

/** Opens the admin's registry in `dir`; a directory without one is a usage error, never a new empty database. */
export function openAdminPairing(dir: string): Pairing {
  const file = join(resolve(dir), REGISTRY_FILE);
  if (!existsSync(file)) throw new UsageError(`no admin database at ${file} (give the admin's --instance DIR)`);
  return openPairing(openRegistry(file));
}

export function cliActor(): string {
  return `cli:${userInfo().username}`;
}

function nodeIdArg(text: string): number {
  if (!/^\d+$/.test(text) || !isNodeId(Number(text))) throw new UsageError(`'${text}' is not a node id (${MIN_NODE_ID}..${MAX_NODE_ID})`);
  return Number(text);
}

/** Runs `work` on the admin's registry; refusals become usage errors (exit 2), with the reason. */
function withPairing<T>(dir: string, work: (pairing: Pairing) => T): T {
  const pairing = openAdminPairing(dir);
  try {
    return asUsageError(() => work(pairing), PairingError);
  } finally {
    pairing.registry.close();
  }
}

/** The authority's own node id (it has no health of its own), from the admin's membership file. */
function authorityId(dir: string): number | undefined {
  try {
    return (JSON.parse(readFileSync(join(resolve(dir), 'membership.json'), 'utf8')) as { authority?: { nodeId?: number } }).authority?.nodeId;
  } catch {
    return undefined;
  }
}

/** up / stale / down / never for an active node other than the authority; '-' otherwise. */
function healthOf(n: RegistryNode, authority: number | undefined, now: number): string | undefined {
  return n.status === 'active' && n.id !== authority ? nodeHealth(n, now).state : undefined;
}

const megabytes = (b: number) => `${Math.round(b / 1e6)}M`;
const gigabytes = (b: number) => `${Math.round(b / 1e8) / 10}G`;

/** A few facts of the node's last report: uptime, load, memory, disk free, peers by path. */
function factColumns(n: RegistryNode): string[] {
  const f = n.report?.facts;
  if (!f) return ['-', '-', '-', '-', '-'];
  return [
    `${f.uptimeS}s`,
    String(f.load[0]),
    megabytes(f.rssBytes),
    f.diskFreeBytes === undefined ? '-' : gigabytes(f.diskFreeBytes),
    Object.entries(f.peerPaths).map(([path, count]) => `${count} ${path}`).join(',') || '-',
  ];
}

function line(n: PairedNode): string {
  return `node ${n.id} ${n.name} (${n.address}, ${n.role}) is ${n.status}`;
}

export function register(program: Command): void {
  const nodes = program.command('nodes').description("The pairing registry: list, approve, revoke and rename nodes (in the admin's database)");
  const instance = (c: Command) => c.option('--instance <dir>', "the admin's instance directory", DEFAULT_ADMIN_INSTANCE);

  instance(nodes.command('list').description('List every node with its status and health (up, stale, down by heartbeat age) and the facts of its last report; pending ones with their join code'))
    .option('--json', 'print JSON')
    .action((opts: { instance: string; json?: boolean }) =>
      withPairing(opts.instance, (pairing) => {
        const all = pairing.list();
        const authority = authorityId(opts.instance);
        const now = Date.now();
        if (opts.json) return console.log(JSON.stringify(all.map((n) => ({ ...n, health: healthOf(n, authority, now) })), null, 2));
        if (!all.length) return console.log('no nodes');
        const rows = all.map((n) => [
          String(n.id), n.address, n.name, n.role, n.status, n.code ? formatCode(n.code) : '', n.groups.join(',') || '-', n.endpoint ?? '-', n.lastSeen ?? '-',
          healthOf(n, authority, now) ?? '-', ...factColumns(n),
        ]);
        const head = ['id', 'address', 'name', 'role', 'status', 'join code', 'groups', 'endpoint', 'last seen', 'health', 'uptime', 'load', 'mem', 'disk', 'peers'];
        const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
        for (const r of [head, ...rows]) console.log(r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd());
      }),
    );

  instance(nodes.command('approve').description('Admit a pending node, named by its id or by the join code both screens show'))
    .argument('<id-or-code>')
    .action((which: string, opts: { instance: string }) =>
      withPairing(opts.instance, (pairing) => {
        let target: PairedNode | undefined;
        if (/^\d+$/.test(which)) target = pairing.find(nodeIdArg(which));
        else {
          let code: string;
          try {
            code = normaliseCode(which);
          } catch (err) {
            if (err instanceof InvalidCodeError) throw new UsageError(`'${which}' is neither a node id nor a join code: ${err.message}`);
            throw err;
          }
          target = pairing.find(code);
          if (!target) throw new UsageError(`no pending join request has the code ${formatCode(code)}`);
        }
        if (!target) throw new UsageError(`no node with id ${which}`);
        console.log(line(pairing.approve(target.id, cliActor())));
      }),
    );

  instance(nodes.command('revoke').description('Revoke a node: the hub and the authority drop it, no command is signed for it, its traffic is refused'))
    .argument('<id>')
    .action((id: string, opts: { instance: string }) => withPairing(opts.instance, (pairing) => console.log(line(pairing.revoke(nodeIdArg(id), cliActor())))));

  instance(nodes.command('rename').description('Give a node a new name (lower case, digits, dashes)'))
    .argument('<id>')
    .argument('<name>')
    .action((id: string, name: string, opts: { instance: string }) =>
      withPairing(opts.instance, (pairing) => console.log(line(pairing.rename(nodeIdArg(id), name, cliActor())))),
    );
}
