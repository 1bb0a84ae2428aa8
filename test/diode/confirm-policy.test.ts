// The signer, not the router, decides what is signed: confirmation comes from the catalog
// (the intent's `confirm`), and the operator policy (operators.json) limits what each extra
// operator token may send, every refusal audited. Real HTTP to F8, a real registry.
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { OPERATORS_FILE } from '../../core/sdk/index.js';
import type { StageKit } from '../../core/sdk/testing.js';
import { startSigningBehindF8, type F8, type SigningBehindF8 } from '../plugins/f8-support.js';
import confirmLessRouter from './confirm-less-router.js';

describe('diode: the signer decides, behind F8, with a router that never flags confirm', () => {
  let f8: F8;
  let signing: StageKit;
  let harness: SigningBehindF8;
  beforeEach(async () => {
    harness = await startSigningBehindF8(confirmLessRouter);
    ({ f8, signing } = harness);
  });
  afterEach(async () => harness.close());
  const post = (text: string, confirm: boolean, authorization?: string) => harness.post({ text, confirm }, authorization);

  const signed = () => f8.w.registry.commands(10);

  it('a reboot drafted without confirm is not signed until the operator confirms it', async () => {
    const [status, body] = await post('reboot leased', false);
    expect([status, body.draft.intent, body.draft.confirm]).to.deep.equal([409, 'reboot', true]);
    expect(signed()).to.deep.equal([]);
    expect(signing.outputs).to.deep.equal([]);
    const [again] = await post('reboot leased', true);
    expect(again).to.equal(200);
    expect(signed().map((c) => [c.intent, c.actor])).to.deep.equal([['reboot', 'operator']]);
  });

  it('a ping (not confirm in the catalog) is signed at once; a dry run says a reboot needs confirming', async () => {
    expect((await post('ping leased', false))[0]).to.equal(200);
    const [, dry] = (await harness.post({ text: 'reboot leased', dryRun: true })) as [number, { dryRun: boolean; draft: { confirm: boolean } }];
    expect([dry.dryRun, dry.draft.confirm]).to.deep.equal([true, true]);
  });

  describe('the operator policy', () => {
    const tokenOf = () => randomBytes(32).toString('base64url');
    const grant = (operators: Record<string, { token: string; intents: string[]; targets?: string[] }>) =>
      writeFileSync(
        f8.w.adminIdentity.path(OPERATORS_FILE),
        JSON.stringify({ operators: Object.fromEntries(Object.entries(operators).map(([name, { token, ...g }]) => [name, { tokenSha256: createHash('sha256').update(token).digest('hex'), ...g }])) }),
      );
    const refusals = () => f8.w.registry.auditLog(20).filter((row) => row.action === 'command.refused').map((r) => [r.actor, r.detail.intent, r.detail.reason]);

    it('a token limited to ping cannot reboot (403, audited, nothing signed), and can ping as itself', async () => {
      const token = tokenOf();
      grant({ 'night-shift': { token, intents: ['ping'] } });
      const [status, body] = await post('reboot leased', true, `Bearer ${token}`);
      expect([status, body.reason]).to.deep.equal([403, 'intent-not-granted']);
      expect(body.explanation).to.contain("'night-shift' may not send 'reboot'");
      expect(signed()).to.deep.equal([]);
      expect(refusals()).to.deep.equal([['night-shift', 'reboot', 'intent-not-granted']]);
      expect(signing.counts()).to.deep.include({ 'refused.policy.intent-not-granted': 1 });
      expect((await post('ping leased', false, `Bearer ${token}`))[0]).to.equal(200);
      expect(signed().map((c) => [c.intent, c.actor])).to.deep.equal([['ping', 'night-shift']]);
    });

    it('a token limited to a target cannot send to another; F8 own token stays unrestricted', async () => {
      const token = tokenOf();
      grant({ 'onprem-only': { token, intents: ['ping', 'reboot'], targets: ['onprem'] } });
      const [status, body] = await post('ping leased', false, `Bearer ${token}`);
      expect([status, body.reason]).to.deep.equal([403, 'target-not-granted']);
      expect(refusals()).to.deep.equal([['onprem-only', 'ping', 'target-not-granted']]);
      expect((await post('ping onprem', false, `Bearer ${token}`))[0]).to.equal(200);
      expect((await post('reboot leased', true))[0]).to.equal(200);
    });

    it('a token not in the policy, or any token when the file is malformed, is refused at the door (401)', async () => {
      grant({ 'night-shift': { token: tokenOf(), intents: ['ping'] } });
      const stranger = await fetch(`${f8.url}/v1/intents`, { method: 'POST', headers: { authorization: `Bearer ${tokenOf()}` }, body: '{"text":"ping leased"}' });
      expect(stranger.status).to.equal(401);
      const token = tokenOf();
      writeFileSync(f8.w.adminIdentity.path(OPERATORS_FILE), '{"operators": {"night-shift": {"tokenSha256": "nope", "intents": []}}}');
      const broken = await fetch(`${f8.url}/v1/intents`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: '{"text":"ping leased"}' });
      expect(broken.status).to.equal(401);
      expect(f8.kit.counts()).to.deep.include({ 'refused.operator-policy-unreadable': 1 });
      expect((await post('ping leased', false))[0]).to.equal(200);
    });
  });
});
