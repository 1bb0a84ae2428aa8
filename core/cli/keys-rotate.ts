// `ppn keys rotate --node N | --all`: moves nodes to a new command-key epoch. It is the
// rotate-keys command, sent through the admin's F8 like any other (F8 routes, checks the
// operator's grant, signs and records it): each node moves when it executes it, the authority
// records the move when the node's ack arrives and signs under the new epoch from then on, and
// the old epoch stays accepted on the node for its verifier's epochOverlapMs (docs/protocol.md,
// "Key lifecycle"). This command only says which nodes, and checks that F8 read it so.
import { isNodeId, MAX_NODE_ID, MIN_NODE_ID, nodeAddress } from '../fleet/addresses.js';
import { UsageError } from './cli-errors.js';
import { f8Client, findF8, F8RefusedError, type F8Options } from './f8-client.js';
import { ask, SEND_EXIT, sendAndFollow } from './send.js';

export interface RotateOptions extends F8Options {
  node?: string;
  all?: boolean;
  yes?: boolean;
  json?: boolean;
}

/** The request F8 is sent for the nodes asked for; throws a UsageError for anything else. */
export function rotationRequest(opts: Pick<RotateOptions, 'node' | 'all'>): { text: string; nodeId?: number } {
  if (opts.all && opts.node !== undefined) throw new UsageError('keys rotate: give --node N or --all, not both');
  if (opts.all) return { text: 'rotate keys on all nodes' };
  if (opts.node === undefined) throw new UsageError('keys rotate: say which nodes: --node N (a node id) or --all');
  if (!/^\d{1,3}$/.test(opts.node) || !isNodeId(Number(opts.node))) {
    throw new UsageError(`keys rotate: --node takes a node id (${MIN_NODE_ID}..${MAX_NODE_ID}), got '${opts.node}'`);
  }
  const nodeId = Number(opts.node);
  // The node's mesh address names it to the router whatever its name is.
  return { text: `rotate keys on ${nodeAddress(nodeId)}`, nodeId };
}

export async function rotate(opts: RotateOptions): Promise<number> {
  const { text, nodeId } = rotationRequest(opts);
  const out = opts.json ? () => {} : (line: string) => console.log(line);
  const result = (code: number, extra: Record<string, unknown>) => {
    if (opts.json) console.log(JSON.stringify({ exitCode: code, ...extra }, null, 2));
    return code;
  };
  try {
    const f8 = f8Client(await findF8(opts));
    const preview = await f8.intent({ text, dryRun: true });
    if (preview.status !== 200) {
      out(`not sent: ${preview.body.error ?? preview.body.reason ?? `F8 answered ${preview.status}`}`);
      return result(preview.status === 422 ? SEND_EXIT.abstained : SEND_EXIT.error, { error: preview.body.error ?? preview.body.reason });
    }
    const { draft, targets } = preview.body as { draft: { intent: string }; targets: { nodeId: number; name: string; address: string }[] };
    // Whatever the router made of the text, only the rotation of exactly these nodes is sent.
    const ids = targets.map((t) => t.nodeId);
    if (draft.intent !== 'rotate-keys' || (nodeId !== undefined && (ids.length !== 1 || ids[0] !== nodeId))) {
      out(`not sent: F8 read "${text}" as ${draft.intent} for ${ids.join(', ') || 'no node'}`);
      return result(SEND_EXIT.error, { error: 'unexpected draft', draft, targets });
    }
    out(`rotate the command key epoch of ${targets.map((t) => `${t.name} (${t.address})`).join(', ')}`);
    if (!opts.yes) {
      const agreed = !opts.json && process.stdin.isTTY && process.stdout.isTTY && (await ask(`move ${targets.length} node(s) to a new key epoch? [y/N] `));
      if (!agreed) {
        out('not sent: not confirmed (run with --yes without a terminal)');
        return result(SEND_EXIT.notConfirmed, { error: 'not confirmed', targets });
      }
    }
    const record = await sendAndFollow(f8, text, true, opts.json ? undefined : out);
    if ('error' in record) return result(record.status === 507 || record.status === 409 ? SEND_EXIT.refused : SEND_EXIT.error, { error: record.error });
    const moved = record.targets.filter((t) => t.status === 'executed').length;
    const failed = record.targets.filter((t) => t.status !== 'executed' && t.status !== 'no-answer').length;
    out(`${record.id}: ${moved} of ${record.targets.length} node(s) moved to a new key epoch`);
    const code = failed ? SEND_EXIT.someFailed : moved < record.targets.length ? SEND_EXIT.someNoAnswer : SEND_EXIT.executed;
    return result(code, { id: record.id, targets: record.targets.map(({ nodeId: id, name, status, detail }) => ({ nodeId: id, name, status, detail })) });
  } catch (err) {
    if (err instanceof F8RefusedError) {
      if (!opts.json) console.error(`ppn: ${err.message}`);
      return result(SEND_EXIT.refused, { error: err.message });
    }
    throw err;
  }
}
