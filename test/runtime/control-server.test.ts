// The control endpoint under hostile callers on loopback (issue 12 item 5): too many
// connections, silent and slow ones, oversized bodies, wrong tokens — each refused and counted,
// and a real request still answered after.
import { expect } from 'chai';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { CONTROL_FILE, startControlServer, type ControlEndpoint, type ControlFile, type ControlLimits } from '../../core/runtime/control-server.js';
import type { Host } from '../../core/runtime/host.js';
import { scratchDir, startTestHost, writePipeline } from '../support/pipeline.js';

describe('control endpoint limits', function () {
  this.timeout(20_000);
  let host: Host;
  let control: ControlEndpoint | undefined;
  let file: ControlFile;
  const sockets: Socket[] = [];

  before(async () => {
    const dir = scratchDir('control');
    host = await startTestHost(
      writePipeline(dir, { role: 'test', node: { name: 'control' }, stages: { source: { type: 'generate', config: { perSecond: 10 } }, sink: { type: 'log-sink', inputs: ['source'], config: { level: 'debug' } } } }),
    );
  });
  after(() => host.stop(Date.now() + 2_000));
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await control?.close();
    control = undefined;
  });

  const start = async (limits: Partial<ControlLimits>) => {
    control = await startControlServer(host, { port: 0, limits });
    file = JSON.parse(readFileSync(join(host.instanceDir, CONTROL_FILE), 'utf8'));
  };
  /** Everything the server sends on each raw connection, until it closes it. */
  const received = new WeakMap<Socket, Promise<string>>();
  const raw = async () => {
    const s = connect(control!.port, '127.0.0.1');
    sockets.push(s);
    let text = '';
    s.on('data', (d) => (text += d));
    s.on('error', () => {}); // a reset is one way of being closed
    received.set(s, new Promise((resolve) => s.on('close', () => resolve(text))));
    await once(s, 'connect');
    return s;
  };
  const untilClosed = (s: Socket) => received.get(s)!;
  const statusWorks = async () => {
    const res = await fetch(`${file.url}/status`, { headers: { authorization: `Bearer ${file.token}` } });
    expect(res.status).to.equal(200);
    return (await res.json()) as { control: { refusals: Record<string, number> } };
  };

  it('closes connections over the cap on arrival, counted; the others are served', async () => {
    await start({ maxConnections: 3, idleTimeoutMs: 10_000 });
    const held = [await raw(), await raw(), await raw()];
    const extra = await raw();
    expect(await untilClosed(extra)).to.equal('');
    expect(control!.refusals()['connection-cap']).to.equal(1);
    held.forEach((s) => s.destroy());
    await Promise.all(held.map(untilClosed));
    expect((await statusWorks()).control.refusals['connection-cap']).to.equal(1);
  });

  it('closes a connection that never sends a request, counted as idle', async () => {
    await start({ idleTimeoutMs: 150 });
    const silent = await raw();
    expect(await untilClosed(silent)).to.equal('');
    expect(control!.refusals().idle).to.equal(1);
    await statusWorks();
  });

  it('answers 408 to a request whose headers stop coming, counted as slow', async () => {
    await start({ idleTimeoutMs: 10_000, requestTimeoutMs: 200 });
    const slow = await raw();
    slow.write('GET /status HTTP/1.1\r\nhost: 127.0.0.1\r\n'); // and never the blank line
    expect(await untilClosed(slow)).to.match(/^HTTP\/1\.1 408/);
    expect(control!.refusals()['slow-request']).to.equal(1);
    await statusWorks();
  });

  it('refuses a body over the limit with 413 before looking at it; nothing is reloaded', async () => {
    await start({ maxBodyBytes: 64 });
    const before = host.status().reloads.count;
    const res = await fetch(`${file.url}/reload`, { method: 'POST', headers: { authorization: `Bearer ${file.token}` }, body: 'x'.repeat(10_000) });
    expect(res.status).to.equal(413);
    expect(control!.refusals()['body-too-large']).to.equal(1);
    expect(host.status().reloads.count).to.equal(before);
    await statusWorks();
  });

  it('counts wrong tokens and unknown endpoints', async () => {
    await start({});
    expect((await fetch(`${file.url}/status`, { headers: { authorization: 'Bearer nope' } })).status).to.equal(401);
    expect((await fetch(`${file.url}/nothing`, { headers: { authorization: `Bearer ${file.token}` } })).status).to.equal(404);
    expect((await statusWorks()).control.refusals).to.include({ unauthorized: 1, 'no-such-endpoint': 1 });
  });
});
