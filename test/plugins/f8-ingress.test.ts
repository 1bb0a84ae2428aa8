// F8's refusals (token, body, schema, endpoint) and how it answers each outcome of an intent.
import { expect } from 'chai';
import { startF8, type F8 } from './f8-support.js';

describe('f8-ingress', () => {
  let f8: F8;
  beforeEach(async () => (f8 = await startF8({ maxBodyBytes: 256 })));
  afterEach(() => f8.stop());

  const post = (path: string, body: string, headers: Record<string, string> = f8.auth) => fetch(`${f8.url}${path}`, { method: 'POST', headers, body });
  const json = async (res: Response): Promise<[number, any]> => [res.status, await res.json()];

  it('refuses a missing or wrong token, a malformed or oversized body, an invalid request, an unknown endpoint — passing nothing on', async () => {
    expect(await json(await post('/v1/intents', '{"text":"ping leased"}', {}))).to.deep.equal([401, { error: 'missing or wrong bearer token' }]);
    expect((await post('/v1/intents', '{"text":"ping"}', { authorization: `Bearer ${'x'.repeat(43)}` })).status).to.equal(401);
    expect((await json(await post('/v1/intents', '{"text":')))[0]).to.equal(400);
    expect(await json(await post('/v1/intents', JSON.stringify({ text: 'x'.repeat(300) })))).to.deep.equal([413, { error: 'request body over 256 bytes' }]);
    const [status, body] = await json(await post('/v1/intents', '{"text":"ping","sudo":true}'));
    expect([status, body.error]).to.deep.equal([400, 'invalid request']);
    expect(await json(await fetch(`${f8.url}/v1/nope`, { headers: f8.auth }))).to.deep.equal([404, { error: 'no such endpoint: GET /v1/nope' }]);
    expect(f8.kit.outputs).to.deep.equal([]);
  });

  it("lists the registry's nodes with what this node's mesh knows of each one's path", async () => {
    const [status, body] = await json(await fetch(`${f8.url}/v1/nodes`, { headers: f8.auth }));
    expect(status).to.equal(200);
    const leased = body.nodes.find((n: { name: string }) => n.name === 'leased');
    expect(leased.path).to.deep.include({ path: 'direct', endpoint: '127.0.0.1:9', rxBytes: 0 });
    expect(leased.path).to.have.property('address', leased.address);
  });

  it('answers an intent from its outcome: abstained 422, needs-confirm 409, no-targets 422, storage-full 507, any other drop 403, failed 500', async () => {
    const outcomes = [
      { status: 'dropped', reason: 'abstained', detail: { abstention: { reason: 'out-of-scope', explanation: 'no', suggestions: ['ping leased'] } } },
      { status: 'dropped', reason: 'needs-confirm', detail: {} },
      { status: 'dropped', reason: 'no-targets', detail: { error: 'none', draft: {} } },
      { status: 'dropped', reason: 'storage-full', detail: {} },
      { status: 'dropped', reason: 'link-wrong-port' },
      { status: 'failed', error: 'router failed: boom' },
    ] as const;
    const statuses: number[] = [];
    for (const [i, outcome] of outcomes.entries()) {
      const answer = post('/v1/intents', JSON.stringify({ text: `request ${i}` }));
      const [env] = (await f8.kit.emitted(i + 1)).slice(-1);
      expect(env.body).to.deep.equal({ text: `request ${i}`, dryRun: false, confirm: false, actor: 'operator' });
      env.settle(outcome);
      statuses.push((await answer).status);
    }
    expect(statuses).to.deep.equal([422, 409, 422, 507, 403, 500]);
  });
});
