// Talking to the admin's F8 from the shell: where it is, its token, its JSON API and its event
// stream. Found from the admin's instance directory (f8.token, and the F8 stage's URL in the
// running node's status), or given by --f8-url/--f8-token or PPN_F8_URL/PPN_F8_TOKEN.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { CommandRecord } from '../registry/registry.js';
import { readControlStatus } from './control-client.js';
import { UsageError } from './cli-errors.js';
import { F8_TOKEN_FILE } from '../contracts/index.js';

export interface F8Target {
  f8Url: string;
  token: string;
}

export interface F8Options {
  instance?: string;
  f8Url?: string;
  f8Token?: string;
}

/** The F8 refused the token: a distinct failure, so `ppn send` can give it its own exit code. */
export class F8RefusedError extends Error {
  override name = 'F8RefusedError';
}

/** Flags first, then the environment, then the admin's instance directory. */
export async function findF8(opts: F8Options, env: NodeJS.ProcessEnv = process.env): Promise<F8Target> {
  let f8Url = opts.f8Url ?? env.PPN_F8_URL;
  let token = opts.f8Token ?? env.PPN_F8_TOKEN;
  if ((!f8Url || !token) && !opts.instance) {
    throw new UsageError("say which admin: --instance ADMIN_DIR (its f8.token and running node), or --f8-url and --f8-token (or PPN_F8_URL and PPN_F8_TOKEN)");
  }
  if (!token) {
    const file = join(resolve(opts.instance!), F8_TOKEN_FILE);
    try {
      token = readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new UsageError(`cannot read the F8 token ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (is this the admin's instance directory?)`);
    }
  }
  if (!f8Url) {
    const status = await readControlStatus(resolve(opts.instance!));
    const f8 = Object.values(status.stages).find((s) => s.type === 'f8-ingress');
    const url = f8?.details?.url;
    if (typeof url !== 'string') throw new UsageError(`the node in ${opts.instance} runs no F8 stage (f8-ingress): is it the admin?`);
    f8Url = url;
  }
  return { f8Url: f8Url.replace(/\/$/, ''), token };
}

export interface F8Answer<T = Record<string, unknown>> {
  status: number;
  body: T;
}

export function f8Client(target: F8Target) {
  const headers = { authorization: `Bearer ${target.token}`, 'content-type': 'application/json' };
  const call = async <T>(method: string, path: string, body?: unknown): Promise<F8Answer<T>> => {
    let res: Response;
    try {
      res = await fetch(target.f8Url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (err) {
      throw new Error(`F8 at ${target.f8Url} does not answer (${(err as Error & { cause?: { code?: string } }).cause?.code ?? (err as Error).message}): is the admin running?`);
    }
    if (res.status === 401) throw new F8RefusedError(`F8 at ${target.f8Url} refused the token (401): check f8.token or PPN_F8_TOKEN`);
    const text = await res.text();
    let parsed: T;
    try {
      parsed = JSON.parse(text) as T;
    } catch {
      throw new Error(`F8 answered ${res.status} with something that is not JSON: ${text.slice(0, 200)}`);
    }
    return { status: res.status, body: parsed };
  };
  return {
    intent: (request: { text: string; dryRun?: boolean; confirm?: boolean }) => call<Record<string, any>>('POST', '/v1/intents', request),
    command: (id: string) => call<CommandRecord & { error?: string }>('GET', `/v1/commands/${encodeURIComponent(id)}`),
    commands: (limit: number) => call<{ commands: CommandRecord[]; error?: string }>('GET', `/v1/commands?limit=${limit}`),
    /** The event stream, frame by frame, until `signal` aborts it; null when F8 will not open one. */
    async events(signal: AbortSignal): Promise<AsyncGenerator<{ event: string; data: any }> | null> {
      const res = await fetch(`${target.f8Url}/v1/events`, { headers, signal });
      if (res.status === 401) throw new F8RefusedError(`F8 at ${target.f8Url} refused the token (401)`);
      if (res.status !== 200 || !res.body) {
        await res.body?.cancel();
        return null;
      }
      return frames(res.body, signal);
    },
  };
}

export type F8Client = ReturnType<typeof f8Client>;

/** Server-sent event frames: `event:` and `data:` lines, a blank line between frames. */
async function* frames(body: ReadableStream<Uint8Array>, signal: AbortSignal): AsyncGenerator<{ event: string; data: any }> {
  const decoder = new TextDecoder();
  let buffered = '';
  const reader = body.getReader();
  try {
    while (!signal.aborted) {
      const { value, done } = await reader.read();
      if (done) return;
      buffered += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffered.indexOf('\n\n')) >= 0) {
        const frame = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        let event = 'message';
        const data: string[] = [];
        for (const line of frame.split('\n')) {
          if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
        }
        if (!data.length) continue; // a comment (keep-alive)
        yield { event, data: JSON.parse(data.join('\n')) };
      }
    }
  } catch (err) {
    if (!signal.aborted) throw err;
  } finally {
    reader.releaseLock();
  }
}
