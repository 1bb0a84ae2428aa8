// `ppn keys rotate-identity`: usage checked before anything is asked; the node's answers (a
// stand-in control endpoint here, answering as the mesh service's actions do: the whole path runs
// in identity-local-mesh) decide the exit status; and a host without the action says so (404).
import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { CONTROL_FILE, startControlServer } from '../../core/runtime/control-server.js';
import { scratchDir, startTestHost, writePipeline } from '../support/pipeline.js';
import { ppn } from '../cli/support.js';

const NEW_KEY = 'B'.repeat(43) + '=';
const OLD_KEY = 'A'.repeat(43) + '=';

/** A node's control endpoint as the mesh service answers: `rotate` for the rotate-identity action, `confirmAfter` identity reads before the new key shows. */
async function standInNode(rotate: { status: number; body: unknown }, confirmAfter: number): Promise<{ dir: string; server: Server; paths: string[] }> {
  const dir = scratchDir('identity-cli');
  const paths: string[] = [];
  let reads = 0;
  const server = createServer((req, res) => {
    paths.push(`${req.method} ${req.url}`);
    const send = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.headers.authorization !== 'Bearer t') return send(401, { error: 'missing or wrong control token' });
    if (req.url === '/services/mesh/rotate-identity') return send(rotate.status, rotate.body);
    if (req.url === '/services/mesh/identity') {
      reads++;
      return send(200, reads > confirmAfter ? { publicKey: NEW_KEY } : { publicKey: OLD_KEY, pending: { publicKey: NEW_KEY, from: 0, to: 1, requests: reads } });
    }
    send(404, { error: 'no such endpoint' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  writeFileSync(join(dir, CONTROL_FILE), JSON.stringify({ pid: process.pid, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token: 't' }));
  return { dir, server, paths };
}

describe('ppn keys rotate-identity', function () {
  this.timeout(20_000);
  const servers: Server[] = [];
  afterEach(() => servers.splice(0).forEach((s) => s.close()));

  it('needs --instance and a wait in milliseconds (exit 2, nothing asked)', async () => {
    const none = await ppn(['keys', 'rotate-identity']);
    expect(none.code).to.equal(2);
    expect(none.stderr).to.include('give --instance DIR of the running node');
    const bad = await ppn(['keys', 'rotate-identity', '--instance', scratchDir('identity-cli-bad'), '--wait-ms', 'soon']);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.include('--wait-ms takes milliseconds');
  });

  it('waits for the confirmation (exit 0), and says when it did not come (exit 5) or the node refused (exit 6)', async () => {
    const confirmed = await standInNode({ status: 200, body: { publicKey: NEW_KEY, from: 0, to: 1 } }, 2);
    servers.push(confirmed.server);
    const ok = await ppn(['keys', 'rotate-identity', '--instance', confirmed.dir, '--json']);
    expect(ok.code, ok.stderr).to.equal(0);
    expect(JSON.parse(ok.stdout)).to.deep.equal({ exitCode: 0, publicKey: NEW_KEY, from: 0, to: 1 });
    expect(confirmed.paths.slice(0, 2)).to.deep.equal(['POST /services/mesh/rotate-identity', 'POST /services/mesh/identity']);

    const silent = await standInNode({ status: 200, body: { publicKey: NEW_KEY, from: 0, to: 1 } }, Infinity);
    servers.push(silent.server);
    const waited = await ppn(['keys', 'rotate-identity', '--instance', silent.dir, '--wait-ms', '300']);
    expect(waited.code).to.equal(5);
    expect(waited.stdout).to.include('not confirmed within 300 ms: the node keeps asking');

    const busy = await standInNode({ status: 409, body: { error: "the last identity change's overlap runs until 2026-12-01T17:00:00.000Z: change again after it" } }, 0);
    servers.push(busy.server);
    const refused = await ppn(['keys', 'rotate-identity', '--instance', busy.dir]);
    expect(refused.code).to.equal(6);
    expect(refused.stdout).to.include('not begun: the last identity change');
  });

  it('a node whose services offer no such action answers 404', async () => {
    const dir = scratchDir('identity-cli-host');
    const host = await startTestHost(writePipeline(dir, { role: 'test', node: { name: 'plain' }, stages: { source: { type: 'generate', config: { perSecond: 1 } }, sink: { type: 'log-sink', inputs: ['source'], config: { level: 'debug' } } } }));
    const control = await startControlServer(host, { port: 0 });
    try {
      const result = await ppn(['keys', 'rotate-identity', '--instance', host.instanceDir]);
      expect(result.code).to.equal(6);
      expect(result.stdout).to.include('no such endpoint: POST /services/mesh/rotate-identity');
    } finally {
      await control.close();
      await host.stop(Date.now() + 2000);
    }
  });
});
