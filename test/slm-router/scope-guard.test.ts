// The scope guard: a draft whose own text refuses its intent or leaves out its target is refused,
// whichever router made it — by the guard alone, by createRouter for every backend, and by the
// signer behind F8 with a router plugin that ignores negation (answer 422, an audit row, nothing
// signed or recorded).
import { expect } from 'chai';
import { loadCatalog } from '../../core/catalog/index.js';
import { createDraftGuard, demoFleet, type Abstention, type Draft, type Fleet } from '../../core/sdk/index.js';
import type { StageKit } from '../../core/sdk/testing.js';
import { createRouter } from '../../plugins/slm-router/router.js';
import { startSigningBehindF8, type F8, type SigningBehindF8 } from '../plugins/f8-support.js';
import negationBlindRouter from './negation-blind-router.js';
import { startStandIn, type StandIn } from './ollama-stand-in.js';

const catalog = loadCatalog();
const fleet: Fleet = demoFleet();
const draft = (intent: string, target: string, selector: number, d: Partial<Draft> = {}): Draft => ({
  intent, opcode: 0x0b, arg: 0, argName: null, target, selector, confidence: 1, confirm: true, explanation: 'test', ...d,
});
const reboot = (target: string, selector: number) => draft('reboot', target, selector);
const ALL = 0xffff;
const EDGE = 0x0101;

describe('scope guard', () => {
  const guard = createDraftGuard(catalog, fleet);
  const verdict = (text: string, d: Draft) => {
    const v = guard.check(text, d);
    return v.ok ? 'ok' : v.reason;
  };

  it('refuses an intent the text negates or prohibits, for the targets the negation names', () => {
    expect(verdict('do not reboot leased', reboot('leased', 3))).to.equal('negated');
    expect(verdict("don't reboot the edge group", reboot('edge', EDGE))).to.equal('negated');
    expect(verdict('never reboot anything', reboot('all', ALL))).to.equal('negated');
    expect(verdict('no need to reboot leased', reboot('leased', 3))).to.equal('negated');
    expect(verdict('stop the operators from rebooting leased', reboot('leased', 3))).to.equal('negated');
    expect(verdict('ping leased without rebooting it', reboot('leased', 3))).to.equal('negated');
    // The negation names leased; a reboot of onprem is what was asked, a reboot of edge reaches leased.
    expect(verdict("reboot onprem but don't reboot leased", reboot('onprem', 2))).to.equal('ok');
    expect(verdict("reboot onprem but don't reboot leased", reboot('edge', EDGE))).to.equal('negated');
  });

  it('refuses a target the text leaves out, and passes what remains', () => {
    expect(verdict('reboot everything except leased', reboot('all', ALL))).to.equal('excluded-target');
    expect(verdict('reboot everything except leased', reboot('leased', 3))).to.equal('excluded-target');
    expect(verdict('reboot everything except leased', reboot('onprem', 2))).to.equal('ok');
    expect(verdict('reboot onprem, not leased', reboot('edge', EDGE))).to.equal('excluded-target');
    expect(verdict('quarantine all but node 3', draft('quarantine', 'leased', 3, { opcode: 9 }))).to.equal('excluded-target');
    expect(verdict("rotate keys on everyone but don't touch leased", draft('rotate-keys', 'all', ALL, { opcode: 6 }))).to.equal('excluded-target');
    expect(verdict('reboot the fleet, skip leased', reboot('onprem', 2))).to.equal('ok');
  });

  it('passes what a negation does not touch: a keyword made with the negation word, another intent', () => {
    expect(verdict('cancel maintenance on leased', draft('exit-maintenance', 'leased', 3, { opcode: 8 }))).to.equal('ok');
    expect(verdict('undo the quarantine on leased', draft('release-quarantine', 'leased', 3, { opcode: 10 }))).to.equal('ok');
    expect(verdict("don't reboot leased, just ping it", draft('ping', 'leased', 3, { opcode: 1 }))).to.equal('ok');
    expect(verdict('reboot leased', reboot('leased', 3))).to.equal('ok');
  });

  it("alone, refuses each negation and exclusion draft the router made before it read scope (the held-out set's first measurement)", () => {
    const selectors: Record<string, number> = { leased: 3, onprem: 2, edge: EDGE };
    const old: [string, string, string][] = [
      ['stop the operators from rebooting leased', 'reboot', 'leased'],
      ["we don't want onprem in maintenance", 'enter-maintenance', 'onprem'],
      ['reboot everything except leased', 'reboot', 'leased'],
      ['quarantine all but onprem', 'quarantine', 'onprem'],
      ['reboot the edge group except leased', 'reboot', 'edge'],
      ['reboot onprem but not leased', 'reboot', 'edge'],
      ['reboot onprem, not leased', 'reboot', 'edge'],
    ];
    for (const [text, intent, target] of old) expect(verdict(text, draft(intent, target, selectors[target])), text).to.not.equal('ok');
  });

  it('refuses a draft carrying the argument the text leaves out', () => {
    const restart = (arg: string, value: number) => draft('restart-service', 'leased', 3, { opcode: 3, arg: value, argName: arg, confirm: false });
    expect(verdict('restart everything except telemetry on leased', restart('telemetry', 1))).to.equal('negated');
    expect(verdict("restart the sync service on leased, don't restart telemetry", restart('telemetry', 1))).to.equal('negated');
    expect(verdict('restart telemetry on leased', restart('telemetry', 1))).to.equal('ok');
  });

  it('refuses a draft of a set of targets when one member is left out', () => {
    const set = { ...reboot('onprem, leased', 2), targets: [{ name: 'onprem', selector: 2 }, { name: 'leased', selector: 3 }] };
    expect(verdict('reboot all except leased', set)).to.equal('excluded-target');
    expect(verdict('reboot onprem and leased', set)).to.equal('ok');
  });

  describe('in createRouter, for the model backend too', () => {
    let server: StandIn;
    beforeEach(async () => (server = await startStandIn('m')));
    afterEach(() => server.close());

    it("refuses the model's draft of what the text refuses, and of a target it leaves out", async () => {
      const router = createRouter({ backend: 'ollama', ollama: { host: server.host, model: 'm', timeoutMs: 5000 } }, catalog, fleet);
      server.behave({ kind: 'answer', content: JSON.stringify({ intent: 'reboot', argument: 'none', target: 'leased' }) });
      const negated = (await router.route('do not reboot leased')) as Abstention;
      expect([negated.intent, negated.reason]).to.deep.equal([null, 'negated']);
      expect(negated.explanation).to.include('refused by the scope guard');
      const excluded = (await router.route('reboot every node except leased')) as Abstention;
      expect([excluded.intent, excluded.reason]).to.deep.equal([null, 'excluded-target']);
      expect((await router.route('reboot leased')).intent).to.equal('reboot');
    });
  });

  describe('in the signer, behind F8, with a router plugin that ignores negation', () => {
    let f8: F8;
    let signing: StageKit;
    let harness: SigningBehindF8;
    beforeEach(async () => {
      harness = await startSigningBehindF8(negationBlindRouter);
      ({ f8, signing } = harness);
    });
    afterEach(async () => harness.close());
    const post = (text: string) => harness.post({ text, confirm: true });

    it('answers 422 with the reason for a negated intent and an excluded target, audits each, signs nothing', async () => {
      const [status, body] = await post("do not reboot leased");
      expect([status, body.error, body.reason, body.draft.intent, body.draft.target]).to.deep.equal([422, 'not sent: the text refuses this draft', 'negated', 'reboot', 'leased']);
      const [status2, body2] = await post('reboot everything except leased');
      expect([status2, body2.reason, body2.draft.target]).to.deep.equal([422, 'excluded-target', 'all']);
      expect(body2.explanation).to.include("'leased'");
      expect(f8.w.registry.commands(10)).to.deep.equal([]);
      const refused = f8.w.registry.auditLog(10).filter((row) => row.action === 'command.refused');
      expect(refused.map((r) => [r.detail.text, r.detail.reason])).to.have.deep.members([['do not reboot leased', 'negated'], ['reboot everything except leased', 'excluded-target']]);
      expect(signing.counts()).to.deep.include({ 'refused.scope.negated': 1, 'refused.scope.excluded-target': 1 });
    });

    it('signs what the text asks for', async () => {
      const [status, body] = await post('reboot leased');
      expect([status, body.targets.map((t: { name: string }) => t.name)]).to.deep.equal([200, ['leased']]);
    });
  });
});
