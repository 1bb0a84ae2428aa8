// What the key-rotation tests over the local mesh share: F8 over HTTP (and waiting for a command
// to settle), the real `ppn` CLI as a child process, and pings sent through F8 at 50 a second
// while the rotations under test start at given moments.
import { expect } from 'chai';
import type { RunningMesh } from '../../examples/local-mesh/launch.js';
import { ppn as runPpn } from '../cli/support.js';

export interface F8 {
  (method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
}

export function f8Of(mesh: RunningMesh): F8 {
  return async (method, path, body) => {
    const res = await fetch(`${mesh.f8Url}${path}`, {
      method,
      headers: { authorization: `Bearer ${mesh.f8Token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
}

/** The command's record once no target is still 'sent'. No event says so over HTTP: read every 100 ms. */
export async function settled(f8: F8, id: string): Promise<any> {
  for (;;) {
    const { body } = await f8('GET', `/v1/commands/${id}`);
    if (body.targets.every((t: { status: string }) => t.status !== 'sent')) return body;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs `ppn ARGS`: its exit code and everything it printed. */
export async function ppn(...args: string[]): Promise<{ code: number; out: string }> {
  const run = await runPpn(args);
  return { code: run.code, out: run.stdout + run.stderr };
}

/**
 * Types `text` into F8 `count` times, one every 20 ms; `at[n]` runs just after the n-th (a
 * rotation, say) and its promise is kept. Resolves with the commands' ids in the order they were
 * typed, and what the actions resolved with, once every POST was answered 200.
 */
export async function pingsAt50<T>(f8: F8, text: string, count: number, at: Record<number, () => Promise<T>>): Promise<{ ids: string[]; results: T[] }> {
  const ids: string[] = [];
  const posts: Promise<void>[] = [];
  const actions: Promise<T>[] = [];
  await new Promise<void>((resolve) => {
    let n = 0;
    const timer = setInterval(() => {
      const slot = n++;
      posts.push(f8('POST', '/v1/intents', { text }).then((r) => {
        expect(r.status, JSON.stringify(r.body)).to.equal(200);
        ids[slot] = r.body.id;
      }));
      if (at[n]) actions.push(at[n]());
      if (n === count) {
        clearInterval(timer);
        resolve();
      }
    }, 20);
  });
  await Promise.all(posts);
  return { ids, results: await Promise.all(actions) };
}
