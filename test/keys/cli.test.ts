// `ppn keys rotate`: which nodes, checked before anything is sent; F8 (a stand-in HTTP server
// here, answering as the real one does: test/plugins/f8-ingress.test.ts) decides the rest.
import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ppn } from '../cli/support.js';

interface Request {
  method: string;
  url: string;
  body: { text?: string; dryRun?: boolean; confirm?: boolean } | undefined;
}

/** F8's answers for one rotation of the nodes in `targets` (as the router read the text). */
function fakeF8(targets: { nodeId: number; name: string }[], intent = 'rotate-keys'): Promise<{ server: Server; url: string; requests: Request[] }> {
  const requests: Request[] = [];
  const record = {
    id: 'c0-9', epoch: 0, counter: '9', intent,
    targets: targets.map((t) => ({ nodeId: t.nodeId, name: t.name, address: `10.8.0.${t.nodeId}`, status: 'executed', detail: 'key epoch 0 → 1', packet: '' })),
  };
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (c) => (text += c));
    req.on('end', () => {
      const body = text ? JSON.parse(text) : undefined;
      requests.push({ method: req.method!, url: req.url!, body });
      const answer = (status: number, value: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
      if (req.url === '/v1/events') return answer(404, { error: 'no stream' });
      if (req.url === '/v1/intents' && body?.dryRun) {
        return answer(200, { dryRun: true, draft: { intent, target: 'x', confirm: true }, targets: targets.map((t) => ({ ...t, address: `10.8.0.${t.nodeId}` })) });
      }
      if (req.url === '/v1/intents') return answer(200, { id: record.id });
      if (req.url === `/v1/commands/${record.id}`) return answer(200, record);
      answer(404, { error: 'unknown endpoint' });
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests })));
}

describe('ppn keys rotate', () => {
  const servers: Server[] = [];
  afterEach(() => servers.splice(0).forEach((s) => s.close()));
  const f8 = async (...args: Parameters<typeof fakeF8>) => {
    const f = await fakeF8(...args);
    servers.push(f.server);
    return { ...f, env: { PPN_F8_URL: f.url, PPN_F8_TOKEN: 't' } };
  };

  it('refuses unclear requests with exit 2 and a precise reason, asking F8 nothing', async () => {
    const { env, requests } = await f8([{ nodeId: 3, name: 'leased' }]);
    const cases: [string[], string][] = [
      [[], 'say which nodes: --node N (a node id) or --all'],
      [['--node', '3', '--all'], 'give --node N or --all, not both'],
      [['--node', '0'], "--node takes a node id (1..254), got '0'"],
      [['--node', '255'], "--node takes a node id (1..254), got '255'"],
      [['--node', 'leased'], "--node takes a node id (1..254), got 'leased'"],
      [['--node', '3x'], "--node takes a node id (1..254), got '3x'"],
    ];
    for (const [args, message] of cases) {
      const run = await ppn(['keys', 'rotate', ...args, '--yes'], env);
      expect([run.code, run.stderr.trim()], args.join(' ')).to.deep.equal([2, `ppn: keys rotate: ${message}`]);
    }
    expect(requests).to.deep.equal([]);
  });

  it("sends rotate-keys for the node's mesh address and reports each node's move", async () => {
    const { env, requests } = await f8([{ nodeId: 3, name: 'leased' }]);
    const run = await ppn(['keys', 'rotate', '--node', '3', '--yes'], env);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.include('leased').and.include('key epoch 0 → 1').and.include('c0-9: 1 of 1 node(s) moved to a new key epoch');
    const intents = requests.filter((r) => r.url === '/v1/intents').map((r) => r.body);
    expect(intents).to.deep.equal([{ text: 'rotate keys on 10.8.0.3', dryRun: true }, { text: 'rotate keys on 10.8.0.3', confirm: true }]);
  });

  it('sends nothing when F8 reads the request as another intent or other nodes, or when it is not confirmed', async () => {
    for (const [targets, intent, args, code] of [
      [[{ nodeId: 4, name: 'other' }], 'rotate-keys', ['--node', '3', '--yes'], 1],
      [[{ nodeId: 3, name: 'leased' }], 'reboot', ['--node', '3', '--yes'], 1],
      [[{ nodeId: 3, name: 'leased' }], 'rotate-keys', ['--node', '3'], 7],
    ] as const) {
      const { env, requests } = await f8([...targets], intent);
      const run = await ppn(['keys', 'rotate', ...args], env);
      expect(run.code, `${intent} ${args.join(' ')}`).to.equal(code);
      expect(requests.filter((r) => r.url === '/v1/intents' && !r.body?.dryRun)).to.deep.equal([]);
    }
  });
});
