import { expect } from 'chai';
import { loadCatalog } from '../../core/catalog/index.js';
import { demoFleet, type Abstention, type Draft, type RouterConfig } from '../../core/contracts/index.js';
import { createRouter } from '../../plugins/slm-router/router.js';
import { closedPort, startStandIn, type StandIn } from './ollama-stand-in.js';

const MODEL = 'qwen2.5:1.5b';
const catalog = loadCatalog();
const answer = (a: object) => ({ kind: 'answer' as const, content: JSON.stringify(a) });

describe('ollama backend (against a stand-in Ollama server; no real ollama runs here)', () => {
  let server: StandIn;
  const router = (backend: RouterConfig['backend'], host = server.host, timeoutMs = 5_000) =>
    createRouter({ backend, ollama: { host, model: MODEL, timeoutMs } }, catalog, demoFleet());

  beforeEach(async () => (server = await startStandIn(MODEL)));
  afterEach(() => server.close());

  it('turns a good answer into a draft, and asks with temperature 0 and the catalog schema as format', async () => {
    server.behave(answer({ intent: 'restart-service', argument: 'sync', target: 'onprem' }));
    const d = (await router('ollama').route('onprem: synchroniser, once more from the top')) as Draft;
    expect(d).to.deep.include({ intent: 'restart-service', opcode: 3, arg: 2, argName: 'sync', target: 'onprem', selector: 2, confirm: false });
    expect(d.confidence).to.be.within(0, 1);
    const request = server.chats[0];
    expect(request.model).to.equal(MODEL);
    expect(request.stream).to.equal(false);
    expect(request.options.temperature).to.equal(0);
    expect(request.format.properties.intent.enum).to.include.members(['ping', 'reboot', 'none']);
    expect(request.format.properties.argument.enum).to.include.members(['telemetry', 'debug', 'none']);
    expect(request.format.properties.target.enum).to.include.members(['onprem', 'leased', 'edge', 'all', 'none']);
    expect(request.format.required).to.deep.equal(['intent', 'argument', 'target']);
    expect(request.messages.at(-1)).to.deep.equal({ role: 'user', content: 'onprem: synchroniser, once more from the top' });
  });

  it('reports a missing model (404) as model-missing, in routing and in status', async () => {
    server.behave({ kind: 'model-missing' });
    const r = router('ollama');
    const a = (await r.route('reboot leased')) as Abstention;
    expect(a).to.deep.include({ intent: null, reason: 'backend-unavailable' });
    expect(a.explanation).to.include('model not found').and.include(`ollama pull ${MODEL}`);
    expect(await r.status()).to.deep.include({ backend: 'ollama', state: 'model-missing' });
  });

  it('gives up on a server that does not answer in time, with state timeout', async () => {
    server.behave({ kind: 'hang' });
    const r = router('ollama', server.host, 200);
    const a = (await r.route('reboot leased')) as Abstention;
    expect(a.reason).to.equal('backend-unavailable');
    expect(a.explanation).to.include('no answer within 200 ms');
    expect(server.chats).to.have.length(1);
  });

  it('rejects malformed JSON, answers outside the catalog, and arguments the intent does not take', async () => {
    const r = router('ollama');
    const cases: [object | string, string][] = [
      ['{"intent": "reboot", "target": ', 'malformed JSON'],
      [{ intent: 'format-disk', argument: 'none', target: 'leased' }, '/intent must be one of'],
      [{ intent: 'reboot', argument: 'none', target: 'mars' }, '/target must be one of'],
      [{ intent: 'reboot', argument: 'none' }, "missing required property 'target'"],
      [{ intent: 'ping', argument: 'debug', target: 'leased' }, "gave ping the argument 'debug'"],
    ];
    for (const [content, why] of cases) {
      server.behave({ kind: 'answer', content: typeof content === 'string' ? content : JSON.stringify(content) });
      const a = (await r.route('whatever')) as Abstention;
      expect(a, why).to.deep.include({ intent: null, reason: 'rejected-answer' });
      expect(a.explanation).to.include(why);
    }
  });

  it('checks the answer against the fleet and the catalog: no relay, no missing argument, none means abstain', async () => {
    const r = router('ollama');
    server.behave(answer({ intent: 'reboot', argument: 'none', target: 'cloud-relay' }));
    expect(await r.route('reboot the hub')).to.deep.include({ reason: 'target-takes-no-commands' });
    server.behave(answer({ intent: 'set-log-level', argument: 'none', target: 'leased' }));
    expect(await r.route('change logging on leased')).to.deep.include({ reason: 'missing-argument' });
    server.behave(answer({ intent: 'none', argument: 'none', target: 'none' }));
    expect(await r.route('what is the weather')).to.deep.include({ reason: 'out-of-scope' });
    server.behave(answer({ intent: 'ping', argument: 'none', target: 'none' }));
    expect(await r.route('ping')).to.deep.include({ reason: 'no-target' });
  });

  it('reports a ready server with the model present', async () => {
    server.behave(answer({ intent: 'none', argument: 'none', target: 'none' }));
    expect(await router('ollama').status()).to.deep.include({ backend: 'ollama', state: 'ready' });
  });
});

describe('cascade backend (against a stand-in Ollama server; no real ollama runs here)', () => {
  let server: StandIn;
  beforeEach(async () => (server = await startStandIn(MODEL)));
  afterEach(() => server.close());
  const cascade = (host: string) => createRouter({ backend: 'cascade', ollama: { host, model: MODEL, timeoutMs: 5_000 } }, catalog, demoFleet());

  it('answers from the catalog without asking the model when the catalog is sure', async () => {
    const d = (await cascade(server.host).route('reboot leased')) as Draft;
    expect(d).to.deep.include({ intent: 'reboot', target: 'leased' });
    expect(d.explanation).to.match(/^catalog:/);
    expect(server.chats).to.have.length(0);
  });

  it('does not ask the model when the catalog abstains for a reason of fact', async () => {
    const r = cascade(server.host);
    expect(await r.route('reboot the relay')).to.deep.include({ reason: 'target-takes-no-commands' });
    expect(await r.route('delete the database')).to.deep.include({ reason: 'out-of-scope' });
    expect(server.chats).to.have.length(0);
  });

  it('asks the model when the catalog cannot read the request, and checks its answer', async () => {
    server.behave(answer({ intent: 'restart-service', argument: 'sync', target: 'leased' }));
    const d = (await cascade(server.host).route('leased: synchroniser, once more from the top')) as Draft;
    expect(server.chats).to.have.length(1);
    expect(d).to.deep.include({ intent: 'restart-service', argName: 'sync', target: 'leased' });
    expect(d.explanation).to.include('ollama').and.include('asked because');
  });

  it('falls back to the catalog when the server is down, and says so in its status', async () => {
    const r = cascade(`http://127.0.0.1:${await closedPort()}`);
    const a = (await r.route('leased: synchroniser, once more from the top')) as Abstention;
    expect(a.intent).to.equal(null);
    expect(a.explanation).to.include('model not used').and.include('ECONNREFUSED');
    expect(a.suggestions).to.not.be.empty;
    expect(await r.route('ping leased')).to.deep.include({ intent: 'ping', target: 'leased' });
    const status = await r.status();
    expect(status).to.deep.include({ backend: 'cascade', state: 'degraded' });
    expect(status.backends.map((b) => [b.backend, b.state])).to.deep.equal([['catalog', 'ready'], ['ollama', 'unreachable']]);
  });

  it('falls back when the model is missing, and says so in its status', async () => {
    server.behave({ kind: 'model-missing' });
    const r = cascade(server.host);
    const a = (await r.route('leased: synchroniser, once more from the top')) as Abstention;
    expect(a.explanation).to.include('model not found');
    expect((await r.status()).backends[1].state).to.equal('model-missing');
  });
});
