// `ppn send TEXT`, `ppn commands`, `ppn audit`: commanding the fleet from a shell, as Salt's and
// Choria's CLIs do. `send` asks the admin's F8 for a draft, shows it, asks before intents the
// catalog flags `confirm`, sends, and follows each target's answer live until every target has
// answered or its deadline has passed. F8 decides everything (routing, policy, signing): the CLI
// is one more client of its API, so it refuses exactly what the page refuses.
import { createInterface } from 'node:readline/promises';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { openRegistry, type CommandRecord, type TargetStatus } from '../registry/registry.js';
import { UsageError } from './cli-errors.js';
import { readControlStatus } from './control-client.js';
import { F8RefusedError, f8Client, findF8, type F8Client, type F8Options } from './f8-client.js';

/** What `ppn send` exits with; scripts branch on these (also in `ppn send --help`). */
export const SEND_EXIT = {
  executed: 0,
  error: 1,
  usage: 2,
  abstained: 3,
  someFailed: 4,
  someNoAnswer: 5,
  refused: 6,
  notConfirmed: 7,
} as const;

const FAILED: readonly TargetStatus[] = ['failed', 'rejected-by-policy', 'unknown-intent'];

interface SendOptions extends F8Options {
  yes?: boolean;
  json?: boolean;
}

const f8Options = (c: Command) =>
  c
    .option('--instance <dir>', "the admin's instance directory (its f8.token; F8's address from the running node)")
    .option('--f8-url <url>', 'F8 base URL, e.g. http://127.0.0.1:8085 (default: $PPN_F8_URL, else from --instance)')
    .option('--f8-token <token>', "F8 bearer token (default: $PPN_F8_TOKEN, else the instance's f8.token)");

export function register(program: Command): void {
  f8Options(
    program
      .command('send')
      .description('Send a request to the fleet through F8: show the draft, confirm if needed, follow each target live')
      .argument('<text...>', 'the request, e.g. "ping the edge nodes" (quotes optional)'),
  )
    .option('-y, --yes', 'send intents flagged confirm (reboot, quarantine…) without asking; needed without a terminal')
    .option('--json', 'print one JSON object at the end (draft, command, targets, summary) and nothing else')
    .addHelpText(
      'after',
      [
        '',
        'Exit status:',
        `  ${SEND_EXIT.executed}  every target executed`,
        `  ${SEND_EXIT.error}  F8 unreachable or another error`,
        `  ${SEND_EXIT.usage}  bad usage (missing text, no admin given)`,
        `  ${SEND_EXIT.abstained}  nothing sent: the router abstained, or no active node takes it`,
        `  ${SEND_EXIT.someFailed}  some target failed (failed, rejected by policy, unknown intent)`,
        `  ${SEND_EXIT.someNoAnswer}  none failed, but some target did not answer by the deadline`,
        `  ${SEND_EXIT.refused}  F8 refused: wrong token, or the admin could not sign (e.g. disk full)`,
        `  ${SEND_EXIT.notConfirmed}  the intent needs confirmation: declined, or no terminal and no --yes`,
      ].join('\n'),
    )
    .action(async (words: string[], opts: SendOptions) => {
      process.exitCode = await send(words.join(' ').trim(), opts);
    });

  const commands = f8Options(
    program
      .command('commands')
      .description('The commands sent to the fleet, newest first, with how their targets answered')
      .option('--limit <n>', 'how many (1..500)', '20')
      .option('--json', 'print the records as JSON'),
  ).action(async (opts: F8Options & { limit: string; json?: boolean }) => {
    const f8 = f8Client(await findF8(opts));
    const { status, body } = await f8.commands(limitOf(opts.limit));
    if (status !== 200) throw new Error(`F8 answered ${status}: ${body.error}`);
    if (opts.json) return console.log(JSON.stringify(body.commands, null, 2));
    for (const c of body.commands) console.log(`${c.id.padEnd(14)} ${c.at}  ${c.intent.padEnd(16)} ${c.target.padEnd(16)} ${tally(c.targets)}  "${c.text}"`);
  });
  f8Options(commands.command('show').description("One command: its draft, counter and every target's answer").argument('<id>', 'command id (from `ppn commands`)'))
    .option('--json', 'print the record as JSON')
    .action(async (id: string, opts: F8Options & { json?: boolean }) => {
      const merged = { ...commands.opts(), ...opts } as F8Options & { json?: boolean };
      const f8 = f8Client(await findF8(merged));
      const { status, body } = await f8.command(id);
      if (status === 404) throw new UsageError(`no command ${id}`);
      if (status !== 200) throw new Error(`F8 answered ${status}: ${body.error}`);
      if (merged.json) return console.log(JSON.stringify(body, null, 2));
      console.log(`${body.id}  "${body.text}"  by ${body.actor} at ${body.at}`);
      console.log(`  ${body.intent} (opcode ${body.opcode}) arg ${body.arg} → ${body.target}; epoch ${body.epoch} counter ${body.counter}`);
      for (const t of body.targets) console.log(`  ${t.name.padEnd(16)} ${t.address.padEnd(12)} ${t.status.padEnd(18)} ${t.detail ?? ''}`);
    });

  program
    .command('audit')
    .description("The admin's audit log, newest first: approvals, revocations, commands and their outcomes")
    .requiredOption('--instance <dir>', "the admin's instance directory")
    .option('--limit <n>', 'how many entries (1..500)', '50')
    .option('--json', 'print the entries as JSON')
    .action(async (opts: { instance: string; limit: string; json?: boolean }) => {
      const file = await registryFileOf(opts.instance);
      const registry = openRegistry(file);
      try {
        const entries = registry.auditLog(limitOf(opts.limit));
        if (opts.json) return console.log(JSON.stringify(entries, null, 2));
        for (const e of entries) console.log(`${e.at}  ${e.actor.padEnd(12)} ${e.action.padEnd(18)} ${JSON.stringify(e.detail)}`);
      } finally {
        registry.close();
      }
    });
}

function limitOf(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 500) throw new UsageError(`--limit must be a whole number from 1 to 500, got '${text}'`);
  return n;
}

/** The registry file of the admin in `dir`: the running node's setting, else the default. */
async function registryFileOf(dir: string): Promise<string> {
  let file = 'admin.db';
  try {
    const status = await readControlStatus(resolve(dir));
    const configured = (status.config.services as Record<string, { file?: string } | undefined>).registry?.file;
    if (configured) file = configured;
  } catch {
    // Not running: the audit log is still on disk under the default name.
  }
  return resolve(dir, file);
}

function tally(targets: readonly { status: string }[]): string {
  const counts = new Map<string, number>();
  for (const t of targets) counts.set(t.status, (counts.get(t.status) ?? 0) + 1);
  return [...counts].map(([s, n]) => `${s} ${n}`).join(', ');
}

/** One run of `ppn send`: its exit code. Prints as it goes (or, with --json, once at the end). */
async function send(text: string, opts: SendOptions): Promise<number> {
  if (!text) throw new UsageError('send: give the request text, e.g. ppn send "ping leased"');
  const out = opts.json ? () => {} : (line: string) => console.log(line);
  const result = (code: number, extra: Record<string, unknown>) => {
    if (opts.json) console.log(JSON.stringify({ text, exitCode: code, ...extra }, null, 2));
    return code;
  };
  let f8: F8Client;
  try {
    f8 = f8Client(await findF8(opts));
    const preview = await f8.intent({ text, dryRun: true });
    if (preview.status === 422) {
      const b = preview.body;
      if (b.reason) {
        out(`not sent: the router abstained (${b.reason}): ${b.explanation}`);
        if (b.suggestions?.length) out(`try: ${b.suggestions.map((s: string) => `"${s}"`).join(', ')}`);
      } else out(`not sent: ${b.error}`);
      return result(SEND_EXIT.abstained, { abstained: b });
    }
    if (preview.status !== 200) return result(refusedOrError(preview.status), { error: preview.body.error });
    const { draft, targets } = preview.body as { draft: Record<string, any>; targets: { nodeId: number; name: string; address: string }[] };
    out(describeDraft(draft, targets));
    if (draft.confirm && !opts.yes) {
      const agreed = !opts.json && process.stdin.isTTY && process.stdout.isTTY ? await ask(`${draft.intent} is flagged confirm: send it to ${targets.length} node(s)? [y/N] `) : false;
      if (!agreed) {
        const why = process.stdin.isTTY && !opts.json ? 'declined' : 'it needs confirmation: run with --yes (no terminal to ask on)';
        out(`not sent: ${why}`);
        return result(SEND_EXIT.notConfirmed, { draft, targets, error: `not confirmed: ${why}` });
      }
    }
    const record = await sendAndFollow(f8, text, Boolean(draft.confirm), opts.json ? undefined : (line) => out(line));
    if ('error' in record) return result(refusedOrError(record.status), { draft, targets, error: record.error });
    const counts = summary(record.targets);
    out(`${record.id}: ${counts.executed} executed, ${counts.failed} failed, ${counts.noAnswer} no answer of ${record.targets.length}`);
    const code = counts.failed ? SEND_EXIT.someFailed : counts.noAnswer ? SEND_EXIT.someNoAnswer : SEND_EXIT.executed;
    return result(code, { draft, id: record.id, counter: record.counter, epoch: record.epoch, targets: record.targets, summary: counts });
  } catch (err) {
    if (err instanceof F8RefusedError) {
      if (!opts.json) console.error(`ppn: ${err.message}`);
      return result(SEND_EXIT.refused, { error: err.message });
    }
    if (opts.json && !(err instanceof UsageError)) return result(SEND_EXIT.error, { error: (err as Error).message });
    throw err;
  }
}

function refusedOrError(status: number): number {
  // 507: the admin's disk is full and it signs nothing; 409 would be a confirm race.
  return status === 507 || status === 409 ? SEND_EXIT.refused : SEND_EXIT.error;
}

function describeDraft(draft: Record<string, any>, targets: { name: string; address: string }[]): string {
  const arg = draft.argName ? ` ${draft.argName} (${draft.arg})` : draft.arg ? ` ${draft.arg}` : '';
  const confidence = typeof draft.confidence === 'number' ? ` confidence ${draft.confidence.toFixed(2)}` : '';
  const lines = [`draft: ${draft.intent}${arg} → ${draft.target}${confidence}${draft.confirm ? '  [needs confirmation]' : ''}`];
  for (const t of targets) lines.push(`  ${t.name} ${t.address}`);
  return lines.join('\n');
}

export async function ask(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

function summary(targets: readonly { status: TargetStatus }[]) {
  return {
    sent: targets.filter((t) => t.status === 'sent').length,
    executed: targets.filter((t) => t.status === 'executed').length,
    failed: targets.filter((t) => FAILED.includes(t.status)).length,
    noAnswer: targets.filter((t) => t.status === 'no-answer').length,
  };
}

/** True once every target has answered or passed its deadline (then 'no-answer'). */
const settled = (c: CommandRecord) => c.targets.every((t) => t.status !== 'sent');

/**
 * Sends, then follows the command on F8's event stream (opened first, so no change is missed;
 * by polling /v1/commands/:id when F8 has no stream to spare) until every target is settled.
 * `line` gets one line per target as it answers, and a progress line on a terminal.
 */
export async function sendAndFollow(f8: F8Client, text: string, confirm: boolean, line?: (s: string) => void): Promise<CommandRecord | { status: number; error: string }> {
  const abort = new AbortController();
  try {
    const stream = await f8.events(abort.signal);
    if (stream) await stream.next(); // 'ready'
    const sent = await f8.intent({ text, confirm });
    if (sent.status !== 200) return { status: sent.status, error: String(sent.body.error) };
    const id = String(sent.body.id);
    const reported = new Map<number, string>();
    const tty = line !== undefined && process.stderr.isTTY;
    const clearProgress = () => tty && process.stderr.write('\r\x1b[2K');
    const progress = (c: CommandRecord) => {
      for (const t of c.targets) {
        if (t.status === 'sent' || reported.get(t.nodeId) === t.status) continue;
        reported.set(t.nodeId, t.status);
        clearProgress();
        line?.(`  ${t.name.padEnd(16)} ${t.address.padEnd(12)} ${t.status}${t.detail ? `: ${t.detail}` : ''}`);
      }
      const s = summary(c.targets);
      if (tty) process.stderr.write(`\r  sent ${s.sent}  executed ${s.executed}  failed ${s.failed}  no answer ${s.noAnswer}`);
    };
    let latest = (await f8.command(id)).body;
    progress(latest);
    if (stream) {
      while (!settled(latest)) {
        const next = await stream.next();
        if (next.done) break;
        if (next.value.event === 'command' && next.value.data.id === id) progress((latest = next.value.data));
      }
    }
    // No stream, or it ended early: ask until settled (the deadline makes every target settle).
    while (!settled(latest)) {
      await new Promise((r) => setTimeout(r, 250));
      progress((latest = (await f8.command(id)).body));
    }
    clearProgress();
    return latest;
  } finally {
    abort.abort();
  }
}
