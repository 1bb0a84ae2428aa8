// The F8 API as the page uses it. The operator's token goes only into Authorization headers and
// this tab's sessionStorage: never into a URL, a cookie or localStorage.
import { createSseParser } from './sse.js';

const TOKEN_KEY = 'ppn.f8.token';

export const storedToken = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (/** @type {string} */ token) => sessionStorage.setItem(TOKEN_KEY, token),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** An answer the page did not expect (401 included: the caller signs out). */
export class ApiError extends Error {
  /** @param {number} status @param {any} body */
  constructor(status, body) {
    super(body?.error ?? `the server answered ${status}`);
    this.status = status;
    this.body = body;
  }
}

/** @param {string} token */
export function createApi(token) {
  const headers = { authorization: `Bearer ${token}` };

  /**
   * Answers every status with its JSON body; the caller decides what each status means.
   * @param {string} path @param {{ method?: string, body?: unknown, signal?: AbortSignal }} [options]
   * @returns {Promise<{ status: number, body: any }>}
   */
  const request = async (path, { method = 'GET', body, signal } = {}) => {
    const res = await fetch(path, {
      method,
      signal,
      cache: 'no-store',
      headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json().catch(() => ({})) };
  };

  /** GET or POST that must answer 200. @param {string} path @param {string} [method] */
  const expectOk = async (path, method) => {
    const answer = await request(path, { method });
    if (answer.status !== 200) throw new ApiError(answer.status, answer.body);
    return answer.body;
  };

  return {
    request,
    nodes: async () => /** @type {any[]} */ ((await expectOk('/v1/nodes')).nodes),
    /**
     * One page of the history, newest first; `next` names the cursor of the page after it, if any.
     * @param {number} limit @param {string} [before] a command id: only those recorded before it
     * @returns {Promise<{ commands: any[], next?: string }>}
     */
    commands: (limit, before) => expectOk(`/v1/commands?limit=${limit}${before ? `&before=${encodeURIComponent(before)}` : ''}`),
    /** The authority's node id, the router stage's backend, the health thresholds. */
    status: () => expectOk('/v1/status'),
    /** @param {number} id @param {'approve' | 'revoke'} decision */
    decide: (id, decision) => expectOk(`/v1/nodes/${id}/${decision}`, 'POST'),

    /**
     * Follows GET /v1/events until the stream ends or `signal` aborts; throws ApiError when the
     * server refuses it.
     * @param {(event: string, data: any) => void} onEvent @param {AbortSignal} signal
     */
    async followEvents(onEvent, signal) {
      const res = await fetch('/v1/events', { headers, signal, cache: 'no-store' });
      if (res.status !== 200 || !res.body) throw new ApiError(res.status, await res.json().catch(() => ({})));
      const push = createSseParser((event, data) => onEvent(event, JSON.parse(data)));
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        push(value);
      }
    },
  };
}
