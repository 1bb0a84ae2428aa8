// F8 against hostile clients (issue 12, items 4, 5, 9, 10), on loopback with a real HTTP server:
// junk request targets, junk queries, idle and slow connections, too many connections, event
// streams that never read. Each is refused and counted, memory stays bounded, and a real
// request still gets its answer afterwards.
import { expect } from 'chai';
import { connect, type Socket } from 'node:net';
import { startF8, type F8 } from './f8-support.js';

/** A raw TCP client: what it was sent, and a promise for when the server closed it. */
function rawClient(port: number, send = '') {
  const socket: Socket = connect(port, '127.0.0.1');
  let received = '';
  socket.on('data', (d) => (received += d.toString('latin1')));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const connected = new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  if (send) socket.write(send);
  return { socket, connected, closed, received: () => received };
}

const get = (path: string, token?: string) => `GET ${path} HTTP/1.1\r\nHost: f8\r\n${token ? `Authorization: Bearer ${token}\r\n` : ''}Connection: close\r\n\r\n`;
const statusOf = (raw: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1]);
const bodyOf = (raw: string) => JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4));

describe('f8-ingress against hostile clients', function () {
  this.timeout(30_000);
  let f8: F8;
  afterEach(() => f8?.stop());

  /** The check every attack ends with: a real request still gets its answer. */
  const stillAnswers = async () => {
    const res = await fetch(`${f8.url}/v1/nodes`, { headers: f8.auth });
    expect(res.status).to.equal(200);
    expect(((await res.json()) as { nodes: { name: string }[] }).nodes.map((n) => n.name)).to.deep.equal(['leased']);
  };

  describe('request targets and queries (items 9, 10)', () => {
    beforeEach(async () => (f8 = await startF8({ logPerMinute: 3 })));

    it('answers a malformed request target 400 (it answered 500), with or without the token, logging a sampled few', async () => {
      for (const token of [undefined, f8.token]) {
        const c = rawClient(f8.port, get('//a:99999/v1/nodes', token));
        await c.closed;
        expect([statusOf(c.received()), bodyOf(c.received())]).to.deep.equal([400, { error: 'malformed request target' }]);
      }
      for (let i = 0; i < 20; i++) await rawClient(f8.port, get('http://[', f8.token)).closed;
      expect(f8.kit.counts()['refused.bad-target']).to.equal(22);
      expect(f8.kit.logs.filter((l) => l.msg === 'F8 request refused: malformed request target')).to.have.length(3);
      await stillAnswers();
    });

    it('refuses any limit but one whole number from 1 to 500, saying why; serves the rest', async () => {
      const limit = async (query: string) => {
        const res = await fetch(`${f8.url}/v1/commands?${query}`, { headers: f8.auth });
        return [res.status, ((await res.json()) as { error?: string }).error];
      };
      expect(await limit('limit=-1')).to.deep.equal([400, 'limit must be a whole number from 1 to 500, got "-1"']);
      expect(await limit('limit=1.5')).to.deep.equal([400, 'limit must be a whole number from 1 to 500, got "1.5"']);
      expect(await limit('limit=abc')).to.deep.equal([400, 'limit must be a whole number from 1 to 500, got "abc"']);
      expect(await limit('limit=')).to.deep.equal([400, 'limit must be a whole number from 1 to 500, got ""']);
      expect(await limit('limit=0')).to.deep.equal([400, 'limit must be from 1 to 500 (the largest page), got "0"']);
      expect(await limit('limit=501')).to.deep.equal([400, 'limit must be from 1 to 500 (the largest page), got "501"']);
      expect(await limit(`limit=${'9'.repeat(400)}`)).to.deep.equal([400, `limit must be from 1 to 500 (the largest page), got "${'9'.repeat(24)}…"`]);
      expect(await limit('limit=2&limit=3')).to.deep.equal([400, 'limit is given more than once']);
      expect(f8.kit.counts()['refused.bad-query']).to.equal(8);
      expect(await limit('limit=500')).to.deep.equal([200, undefined]);
      expect(await limit('')).to.deep.equal([200, undefined]);
    });
  });

  describe('connections (item 5)', () => {
    beforeEach(async () => (f8 = await startF8({ maxConnections: 4, headersTimeoutMs: 400, requestTimeoutMs: 800, logPerMinute: 2 })));

    it('answers a connection that sends nothing, slow headers or a slow body 408 and closes it, counted', async () => {
      const idle = rawClient(f8.port);
      const slowHeaders = rawClient(f8.port, 'GET /v1/nodes HTTP/1.1\r\nHost: f8\r\n');
      const slowBody = rawClient(f8.port, `POST /v1/intents HTTP/1.1\r\nHost: f8\r\nAuthorization: Bearer ${f8.token}\r\nContent-Length: 100\r\n\r\n{"te`);
      await Promise.all([idle.closed, slowHeaders.closed, slowBody.closed]);
      expect([idle, slowHeaders, slowBody].map((c) => statusOf(c.received()))).to.deep.equal([408, 408, 408]);
      expect(f8.kit.counts()['refused.request-timeout']).to.equal(3);
      expect(f8.kit.outputs).to.deep.equal([]);
      await stillAnswers();
    });

    it('refuses connections over the cap, counted; frees the slots as they close', async () => {
      const held = Array.from({ length: 4 }, () => rawClient(f8.port));
      await Promise.all(held.map((c) => c.connected));
      const extra = Array.from({ length: 6 }, () => rawClient(f8.port));
      await Promise.all(extra.map((c) => c.closed));
      expect(extra.map((c) => c.received())).to.deep.equal(Array(6).fill(''));
      expect(f8.kit.counts()['refused.connection-cap']).to.equal(6);
      expect(f8.kit.logs.filter((l) => l.msg === 'F8 connection refused: too many open')).to.have.length(2);
      for (const c of held) c.socket.destroy();
      await Promise.all(held.map((c) => c.closed));
      await stillAnswers();
    });

    it('keeps an event stream open past the request timeouts (they bound receiving the request, not the stream)', async () => {
      await f8.stop();
      f8 = await startF8({ headersTimeoutMs: 200, requestTimeoutMs: 300, idleTimeoutMs: 1000, events: { keepAliveMs: 100 } });
      const stream = rawClient(f8.port, `GET /v1/events HTTP/1.1\r\nHost: f8\r\nAuthorization: Bearer ${f8.token}\r\n\r\n`);
      // 20 keep-alive comments: 2 s, several times each timeout and the idle timeout.
      await new Promise<void>((resolve) => {
        stream.socket.on('data', () => stream.received().split(': keep-alive').length > 20 && resolve());
      });
      expect(stream.socket.destroyed).to.equal(false);
      expect(f8.kit.counts()['refused.request-timeout'] ?? 0).to.equal(0);
      stream.socket.destroy();
    });

    it('refuses oversized headers 431', async () => {
      const c = rawClient(f8.port, `GET /v1/nodes HTTP/1.1\r\nHost: f8\r\nX-Junk: ${'a'.repeat(10_000)}\r\n\r\n`);
      await c.closed;
      expect(statusOf(c.received())).to.equal(431);
      expect(f8.kit.counts()['refused.header-too-large']).to.equal(1);
    });
  });

  describe('event streams (item 4)', () => {
    const openStream = () => rawClient(f8.port, `GET /v1/events HTTP/1.1\r\nHost: f8\r\nAuthorization: Bearer ${f8.token}\r\n\r\n`);
    /** Commands of ~64 KB each into the registry, one per turn of the event loop: each an event on every stream. */
    const flood = async (count: number, from = 0) => {
      for (let i = from; i < from + count; i++) {
        await new Promise((resolve) => setImmediate(resolve));
        f8.w.registry.recordCommand({
          id: `c0-${i + 1}`, at: new Date().toISOString(), actor: 'operator', text: 'x'.repeat(64 * 1024), intent: 'ping', opcode: 1, arg: 0,
          target: 'leased', selector: 3, epoch: 0, counter: String(i + 1), deadline: Date.now() + 600_000,
          targets: [{ nodeId: 3, name: 'leased', address: '10.8.0.3', packet: '00' }],
        });
      }
    };
    /** A stream that reads everything; resolves once it has seen `count` command events. */
    const reader = async (count: number) => {
      const res = await fetch(`${f8.url}/v1/events`, { headers: f8.auth });
      const decoder = new TextDecoder();
      let text = '';
      let seen = 0;
      const done = (async () => {
        for await (const chunk of res.body!) {
          text += decoder.decode(chunk as Uint8Array, { stream: true });
          const frames = text.split('\n\n');
          text = frames.pop()!;
          seen += frames.filter((f) => f.startsWith('event: command')).length;
          if (seen >= count) return seen;
        }
        return seen;
      })();
      return { done };
    };

    it('refuses streams over the cap with 503, counted; a closed one frees its slot', async () => {
      f8 = await startF8({ events: { maxStreams: 3 } });
      const open = [openStream(), openStream(), openStream()];
      await Promise.all(open.map((c) => c.connected));
      const res = await fetch(`${f8.url}/v1/events`, { headers: f8.auth });
      expect([res.status, ((await res.json()) as { error: string }).error]).to.deep.equal([503, 'too many event streams open (3); close one and retry']);
      expect(f8.kit.counts()['refused.event-stream-cap']).to.equal(1);
      open[0].socket.destroy();
      await open[0].closed;
      const again = openStream();
      await again.connected;
      for (const c of [...open, again]) c.socket.destroy();
      await stillAnswers();
    });

    it('drops a stream whose reader stops once it holds too much unsent; the reading stream gets every event', async () => {
      f8 = await startF8({ events: { maxBufferedBytes: 256 * 1024 } });
      const stalled = openStream();
      await stalled.connected;
      stalled.socket.pause();
      const live = await reader(200);
      await flood(200);
      expect(f8.kit.counts()['event-streams.dropped-slow']).to.equal(1);
      const status = f8.kit.stage.status!() as { eventStreams: { open: number; bufferedBytes: number } };
      expect(status.eventStreams.open).to.equal(1);
      expect(status.eventStreams.bufferedBytes).to.be.at.most(256 * 1024);
      expect(await live.done).to.equal(200);
      stalled.socket.destroy();
      await stillAnswers();
    });

    it('drops a stream that cannot send for stallMs, even under the byte limit', async () => {
      f8 = await startF8({ events: { maxBufferedBytes: 64 << 20, stallMs: 300 } });
      const stalled = openStream();
      await stalled.connected;
      stalled.socket.pause();
      await flood(200);
      await f8.kit.counted('event-streams.dropped-stalled', 1);
      expect((f8.kit.stage.status!() as { eventStreams: { open: number } }).eventStreams.open).to.equal(0);
      stalled.socket.destroy();
      await stillAnswers();
    });
  });
});
