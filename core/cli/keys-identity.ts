// `ppn keys rotate-identity --instance DIR`: the running node changes its identity key (its
// WireGuard key, also its half of every derived key) without downtime. The node does the work
// (core/node/identity-rotation.ts): this asks it to begin through its control endpoint, then
// follows it until the authority's membership names the new key (the confirmation) or the wait
// runs out. Run on the node, not the admin: only the node ever holds its secret.
import { callControl } from './control-client.js';
import { UsageError } from './cli-errors.js';

export interface RotateIdentityOptions {
  instance?: string;
  waitMs?: string;
  json?: boolean;
}

/** Exit codes: 0 confirmed, 2 bad usage, 5 begun but not confirmed within the wait, 6 the node refused, 1 anything else. */
export const IDENTITY_EXIT = { confirmed: 0, error: 1, usage: 2, unconfirmed: 5, refused: 6 } as const;

interface IdentityStatus {
  publicKey: string;
  pending?: { publicKey: string; from: number; to: number; requests: number };
  error?: string;
}

export async function rotateIdentity(opts: RotateIdentityOptions): Promise<number> {
  if (!opts.instance) throw new UsageError('keys rotate-identity: give --instance DIR of the running node');
  const waitMs = Number(opts.waitMs ?? 30_000);
  if (!Number.isInteger(waitMs) || waitMs < 0) throw new UsageError(`keys rotate-identity: --wait-ms takes milliseconds (an integer ≥ 0), got '${opts.waitMs}'`);
  const out = opts.json ? () => {} : (line: string) => console.log(line);
  const result = (code: number, extra: Record<string, unknown>) => {
    if (opts.json) console.log(JSON.stringify({ exitCode: code, ...extra }, null, 2));
    return code;
  };
  const begun = (await callControl(undefined, opts.instance, 'POST', '/services/mesh/rotate-identity')) as { publicKey?: string; from?: number; to?: number; already?: boolean; error?: string };
  if (begun.error) {
    out(`not begun: ${begun.error}`);
    return result(IDENTITY_EXIT.refused, { error: begun.error });
  }
  out(`${begun.already ? 'already under way' : 'begun'}: new identity key ${begun.publicKey}, key epoch ${begun.from} → ${begun.to}; waiting for the authority`);
  const end = Date.now() + waitMs;
  for (;;) {
    const status = (await callControl(undefined, opts.instance, 'POST', '/services/mesh/identity')) as IdentityStatus;
    if (status.error) return result(IDENTITY_EXIT.error, { error: status.error });
    if (status.publicKey === begun.publicKey) {
      out(`confirmed: the authority records ${status.publicKey}; the replaced key is kept for the overlap`);
      return result(IDENTITY_EXIT.confirmed, { publicKey: status.publicKey, from: begun.from, to: begun.to });
    }
    if (Date.now() >= end) {
      out(`not confirmed within ${waitMs} ms: the node keeps asking (${status.pending?.requests ?? 0} requests so far); see the admin's identity-change-rejected metrics if it refused`);
      return result(IDENTITY_EXIT.unconfirmed, { pending: status.pending ?? null });
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
