// The HTTP side of the F8 page against the running local mesh: the page's files and headers, the
// event stream (read with the page's own SSE parser), approving and revoking nodes, join codes,
// the router's backend and health thresholds, history paging.
import { expect } from 'chai';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { openRegistry } from '../../core/registry/registry.js';
import { webDir } from '../../plugins/f8-ingress/page-files.js';
import { startF8Mesh, type F8Mesh } from './support.js';

type SseEvent = { event: string; data: any };
const { createSseParser } = (await import(pathToFileURL(join(webDir(), 'sse.js')).href)) as {
  createSseParser: (onEvent: (event: string, data: string) => void) => (chunk: string) => void;
};

describe('F8 page API (local mesh)', function () {
  this.timeout(60_000);
  let mesh: F8Mesh;
  before(async () => {
    mesh = await startF8Mesh('f8-api', 1500);
  });
  after(async () => mesh && (await mesh.stop()));

  const auth = () => ({ authorization: `Bearer ${mesh.f8Token}` });
  const post = (path: string, body?: object, headers: Record<string, string> = auth()) =>
    fetch(`${mesh.f8Url}${path}`, { method: 'POST', headers, body: body && JSON.stringify(body) });
  /** A path sent exactly as written (fetch would resolve dot segments first). */
  const rawGet = (path: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const { hostname, port } = new URL(mesh.f8Url);
      request({ hostname, port, path }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      })
        .on('error', reject)
        .end();
    });

  /** Follows GET /v1/events; `next` resolves with the first matching event, seen or to come. */
  const openEvents = async () => {
    const abort = new AbortController();
    const res = await fetch(`${mesh.f8Url}/v1/events`, { headers: auth(), signal: abort.signal });
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.match(/^text\/event-stream/);
    const events: SseEvent[] = [];
    let raw = '';
    const waiters = new Set<{ match: (e: SseEvent) => boolean; resolve: (e: SseEvent) => void }>();
    const push = createSseParser((event, data) => {
      const e = { event, data: JSON.parse(data) };
      events.push(e);
      for (const w of [...waiters]) if (w.match(e)) (waiters.delete(w), w.resolve(e));
    });
    (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of res.body!) {
        const text = decoder.decode(chunk as Uint8Array, { stream: true });
        raw += text;
        push(text);
      }
    })().catch(() => {});
    return {
      events,
      raw: () => raw,
      next: (match: (e: SseEvent) => boolean, what: string) => {
        const seen = events.find(match);
        if (seen) return Promise.resolve(seen);
        let timer: NodeJS.Timeout | undefined;
        return Promise.race([
          new Promise<SseEvent>((resolve) => waiters.add({ match, resolve })),
          new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no event: ${what}; got ${JSON.stringify(events)}`)), 15_000))),
        ]).finally(() => clearTimeout(timer));
      },
      close: () => abort.abort(),
    };
  };

  describe('the page files', () => {
    for (const [path, type] of [
      ['/', 'text/html'],
      ['/app.js', 'text/javascript'],
      ['/api.js', 'text/javascript'],
      ['/sse.js', 'text/javascript'],
      ['/views.js', 'text/javascript'],
      ['/style.css', 'text/css'],
      ['/icon.svg', 'image/svg+xml'],
    ]) {
      it(`serves ${path} without a token, as ${type}, with a same-origin-only policy`, async () => {
        const res = await fetch(`${mesh.f8Url}${path}`);
        expect(res.status).to.equal(200);
        expect(res.headers.get('content-type')).to.satisfy((t: string) => t.startsWith(type));
        expect(res.headers.get('x-content-type-options')).to.equal('nosniff');
        const csp = res.headers.get('content-security-policy')!;
        expect(csp).to.include("default-src 'none'").and.include("script-src 'self'").and.include("connect-src 'self'").and.include("frame-ancestors 'none'");
        expect(csp).to.not.match(/unsafe|https?:/);
      });
    }

    it('refers to nothing outside this server (works offline)', async () => {
      for (const path of ['/', '/app.js', '/api.js', '/views.js', '/style.css']) {
        expect(await (await fetch(`${mesh.f8Url}${path}`)).text(), path).to.not.match(/https?:\/\/|\/\/[a-z0-9.-]+\.[a-z]{2,}\//i);
      }
    });

    it('answers 404 to unknown paths and to every way out of the folder', async () => {
      for (const path of [
        '/nope.js',
        '/index.htm',
        '/app.js.map',
        '/web/app.js',
        '/../package.json',
        '/..%2fpackage.json',
        '/%2e%2e/%2e%2e/package.json',
        '/..%5c..%5cpackage.json',
        '/plugins/f8-ingress/index.ts',
        '/%2fetc%2fpasswd',
        '/app.js%00.css',
        '//etc/passwd',
      ]) {
        const res = await rawGet(path);
        expect(res.status, path).to.equal(404);
        expect(res.body, path).to.not.include('"name"').and.not.include('root:');
      }
      expect((await fetch(`${mesh.f8Url}/`, { method: 'POST' })).status).to.equal(404);
    });

    it('sets the same protective headers on API answers', async () => {
      const res = await fetch(`${mesh.f8Url}/v1/nodes`, { headers: auth() });
      expect(res.headers.get('x-content-type-options')).to.equal('nosniff');
      expect(res.headers.get('content-security-policy')).to.include("default-src 'none'");
    });
  });

  const getJson = async (path: string) => {
    const res = await fetch(`${mesh.f8Url}${path}`, { headers: auth() });
    return { status: res.status, body: (await res.json()) as any };
  };

  describe('GET /v1/nodes and /v1/status', () => {
    it("gives each pending node its join code from the pairing registry, and no other node one", async () => {
      const { status, body } = await getJson('/v1/nodes');
      expect(status).to.equal(200);
      const codes = body.nodes.map((n: { id: number; status: string; code?: string }) => [n.id, n.status, n.code ?? null]);
      expect(codes).to.deep.equal([
        ...mesh.fleet.map((n) => n.id).sort((a, b) => a - b).map((id) => [id, 'active', null]),
        [20, 'pending', mesh.joinCodes.get(20)], [21, 'pending', mesh.joinCodes.get(21)],
      ]);
      expect(mesh.joinCodes.get(20)).to.match(/^[0-9A-HJKMNP-TV-Z]{8}$/);
      expect(JSON.stringify(body)).to.not.include(mesh.f8Token);
    });

    it("names the router stage's backend, the authority and the health thresholds", async () => {
      const { status, body } = await getJson('/v1/status');
      expect(status).to.equal(200);
      const admin = mesh.fleet.find((n) => n.role === 'os-network-admin')!;
      expect(body).to.deep.equal({
        authority: admin.id,
        router: { stage: 'router', state: 'running', backend: 'catalog' },
        health: { staleAfterMs: 300_000, downAfterMs: 900_000 },
      });
      expect((await fetch(`${mesh.f8Url}/v1/status`)).status).to.equal(401);
    });
  });

  describe('GET /v1/events', () => {
    it('refuses a missing or wrong token', async () => {
      expect((await fetch(`${mesh.f8Url}/v1/events`)).status).to.equal(401);
      const wrong = await fetch(`${mesh.f8Url}/v1/events`, { headers: { authorization: 'Bearer not-the-token' } });
      expect(wrong.status).to.equal(401);
      expect(await wrong.text()).to.not.include('not-the-token');
    });

    it("pushes a sent command, then its target's ack and the node's new last-heard time", async () => {
      const stream = await openEvents();
      try {
        await stream.next((e) => e.event === 'ready', 'ready');
        const sent = (await (await post('/v1/intents', { text: 'ping leased' })).json()) as any;
        const first = await stream.next((e) => e.event === 'command' && e.data.id === sent.id, 'the command');
        expect(first.data).to.include({ text: 'ping leased', intent: 'ping', counter: sent.counter });
        expect(first.data.targets[0]).to.include({ name: 'leased', address: '10.8.0.3', packet: sent.targets[0].packet });
        const acked = await stream.next((e) => e.event === 'command' && e.data.id === sent.id && e.data.targets[0].status === 'executed', 'the ack');
        expect(acked.data.targets[0].detail).to.equal('pong');
        const heard = await stream.next((e) => e.event === 'node' && e.data.id === 3 && e.data.lastSeen, "leased's last-heard time");
        expect(Date.parse(heard.data.lastSeen)).to.be.a('number').and.not.NaN;
        expect(stream.raw()).to.not.include(mesh.f8Token);
      } finally {
        stream.close();
      }
    });
  });

  describe('POST /v1/nodes/:id/approve and /revoke', () => {
    it('approves a pending node, answering the node, and tells the event stream', async () => {
      const stream = await openEvents();
      try {
        await stream.next((e) => e.event === 'ready', 'ready');
        const res = await post('/v1/nodes/20/approve');
        expect(res.status).to.equal(200);
        expect(await res.json()).to.include({ id: 20, name: 'newcomer', status: 'active', address: '10.8.0.20' });
        await stream.next((e) => e.event === 'node' && e.data.id === 20 && e.data.status === 'active', 'newcomer active');
      } finally {
        stream.close();
      }
    });

    it('rejects a pending node (forgotten: its id is free again), audited as the operator', async () => {
      const res = await post('/v1/nodes/21/revoke');
      expect(res.status).to.equal(200);
      expect(await res.json()).to.include({ id: 21, name: 'stranger', status: 'revoked' });
      const nodes = ((await (await fetch(`${mesh.f8Url}/v1/nodes`, { headers: auth() })).json()) as any).nodes;
      expect(nodes.find((n: { id: number }) => n.id === 21)).to.equal(undefined);
      const admin = mesh.fleet.find((n) => n.role === 'os-network-admin')!;
      const registry = openRegistry(join(admin.instanceDir, 'admin.db'));
      try {
        const decisions = registry.auditLog(50).filter((r) => r.action === 'node.status' || r.action === 'node.remove');
        expect(decisions.map((r) => ({ actor: r.actor, action: r.action, ...r.detail }))).to.deep.include.members([
          { actor: 'operator', action: 'node.status', id: 20, from: 'pending', to: 'active' },
          { actor: 'operator', action: 'node.remove', id: 21, name: 'stranger', status: 'pending' },
        ]);
      } finally {
        registry.close();
      }
    });

    it('revokes an active node (newcomer, approved above), audited; its key stays revoked', async () => {
      const res = await post('/v1/nodes/20/revoke');
      expect(res.status).to.equal(200);
      expect(await res.json()).to.include({ id: 20, name: 'newcomer', status: 'revoked' });
      expect((await post('/v1/nodes/20/approve')).status).to.equal(409);
      const nodes = (await getJson('/v1/nodes')).body.nodes;
      expect(nodes.find((n: { id: number }) => n.id === 20)).to.include({ status: 'revoked' }).and.not.have.property('code');
    });

    it('answers 404 for an unknown node or decision and 401 without the token, changing nothing', async () => {
      expect((await post('/v1/nodes/99/approve')).status).to.equal(404);
      expect((await post('/v1/nodes/2/delete')).status).to.equal(404);
      expect((await post('/v1/nodes/abc/approve')).status).to.equal(404);
      expect((await fetch(`${mesh.f8Url}/v1/nodes/2/revoke`, { headers: auth() })).status, 'GET').to.equal(404);
      expect((await post('/v1/nodes/2/revoke', undefined, {})).status).to.equal(401);
      expect((await post('/v1/nodes/2/revoke', undefined, { authorization: 'Bearer wrong' })).status).to.equal(401);
      const nodes = ((await (await fetch(`${mesh.f8Url}/v1/nodes`, { headers: auth() })).json()) as any).nodes;
      expect(nodes.find((n: { id: number }) => n.id === 2).status).to.equal('active');
    });
  });

  describe('GET /v1/commands paging', () => {
    it('walks the whole history a page at a time with ?before=, newest first, none twice or missed', async () => {
      for (let i = 0; i < 3; i++) expect((await post('/v1/intents', { text: 'ping onprem' })).status).to.equal(200);
      const all = (await getJson('/v1/commands?limit=500')).body.commands.map((c: { id: string }) => c.id);
      expect(all.length).to.be.at.least(4);
      const walked: string[] = [];
      let before: string | undefined;
      for (;;) {
        const { status, body } = await getJson(`/v1/commands?limit=2${before ? `&before=${before}` : ''}`);
        expect(status).to.equal(200);
        walked.push(...body.commands.map((c: { id: string }) => c.id));
        if (!body.next) break;
        expect(body.next).to.equal(body.commands[1].id);
        before = body.next;
      }
      expect(walked).to.deep.equal(all);
      // Ids follow each other: one registry sequence, whatever the counter does.
      const numbers = all.map((id: string) => Number(/^c0-(\d+)$/.exec(id)![1]));
      expect(numbers).to.deep.equal([...numbers].sort((a, b) => b - a));
      expect(numbers[0] - numbers[numbers.length - 1]).to.equal(numbers.length - 1);
    });

    it('refuses a bad or unknown cursor with a 400 saying why', async () => {
      for (const [query, why] of [
        ['before=abc', 'before must be a command id such as c0-42, got "abc"'],
        ['before=c0-0', 'before must be a command id such as c0-42, got "c0-0"'],
        ['before=c0-1&before=c0-2', 'before is given more than once'],
        ['before=', 'before must be a command id such as c0-42, got ""'],
        ['before=c9-99999', 'before names no command: c9-99999'],
        ['limit=0&before=c0-1', 'limit must be from 1 to 500 (the largest page), got "0"'],
      ]) {
        const { status, body } = await getJson(`/v1/commands?${query}`);
        expect([query, status, body.error]).to.deep.equal([query, 400, why]);
      }
    });
  });

  describe('hostile clients (issue 12 items 4, 5, 9, 10)', () => {
    it('a command still executes on a node while event streams stall, idle connections wait and junk arrives', async () => {
      const { hostname, port } = new URL(mesh.f8Url);
      const sockets: Socket[] = [];
      const raw = (text: string) => {
        const socket = connect(Number(port), hostname);
        socket.on('error', () => {});
        sockets.push(socket);
        if (text) socket.write(text);
        return socket;
      };
      const stream = await openEvents();
      try {
        await stream.next((e) => e.event === 'ready', 'ready');
        // 31 more streams that never read: with the page's stream, the default cap of 32.
        // Each stops reading once its stream is open (the answer's first bytes arrived).
        const stalled = Array.from({ length: 31 }, () => raw(`GET /v1/events HTTP/1.1\r\nHost: f8\r\nAuthorization: Bearer ${mesh.f8Token}\r\n\r\n`));
        await Promise.all(stalled.map((s) => new Promise((resolve) => s.once('data', () => resolve(s.pause())))));
        for (let i = 0; i < 40; i++) raw('');
        const over = await fetch(`${mesh.f8Url}/v1/events`, { headers: auth() });
        expect(over.status).to.equal(503);
        expect((await rawGet('//a:99999/v1/nodes')).status).to.equal(400);
        expect((await fetch(`${mesh.f8Url}/v1/commands?limit=-1`, { headers: auth() })).status).to.equal(400);

        const sent = (await (await post('/v1/intents', { text: 'ping leased' })).json()) as any;
        const acked = await stream.next((e) => e.event === 'command' && e.data.id === sent.id && e.data.targets[0].status === 'executed', 'the ack');
        expect(acked.data.targets[0].detail).to.equal('pong');
      } finally {
        stream.close();
        for (const s of sockets) s.destroy();
      }
    });
  });

  // Last (mocha runs a suite's own tests before its child suites, so this is a suite too): it stops a node.
  describe('a node that stops answering', () => {
    it('pushes a target that stops answering as no-answer when its deadline passes', async () => {
      const leased = mesh.nodes.get('leased')!.process;
      await new Promise((resolve) => {
        leased.once('exit', resolve);
        leased.kill('SIGTERM');
      });
      const stream = await openEvents();
      try {
        await stream.next((e) => e.event === 'ready', 'ready');
        const sent = (await (await post('/v1/intents', { text: 'ping leased' })).json()) as any;
        await stream.next((e) => e.event === 'command' && e.data.id === sent.id && e.data.targets[0].status === 'sent', 'sent');
        const late = await stream.next((e) => e.event === 'command' && e.data.id === sent.id && e.data.targets[0].status === 'no-answer', 'no-answer');
        expect(late.data.deadline).to.be.a('number');
      } finally {
        stream.close();
      }
    });
  });
});
