// Router quality on labelled requests. The dev set was written before the router was built; each
// held-out set after a round of tuning, to estimate how the catalog router does on language it
// was not tuned on (their first figures: 98.2% / 100% and 97.3% / 100%). The scope sets (issue
// 17: negations, exclusions, lists, double commands, questions, look-alikes) count wrong commands
// apart: a draft that is not what was asked. Their bar is none at all; the held-out one was written
// and first measured before the scope rules existed (56.3% / 84.6%, 11 wrong commands). All the
// sets go through createRouter, so the scope guard is part of what is measured.
import { expect } from 'chai';
import { loadCatalog } from '../../core/catalog/index.js';
import { demoFleet } from '../../core/contracts/index.js';
import { createRouter } from '../../plugins/slm-router/router.js';
import { evaluate, readLabelled, type Evaluation } from './evaluate.js';

const router = createRouter({ backend: 'catalog' }, loadCatalog(), demoFleet());

function report(name: string, e: Evaluation): void {
  console.log(`      ${name}: in-scope accuracy ${e.inScopeRight}/${e.inScope} = ${(100 * e.accuracy).toFixed(1)}%, out-of-scope abstention ${e.abstained}/${e.outOfScope} = ${(100 * e.abstentionRate).toFixed(1)}%, wrong commands ${e.wrongCommands}`);
  for (const m of e.misses) console.log(`        ${m.wrongCommand ? 'WRONG COMMAND' : 'miss'}: "${m.text}": expected ${m.expected}, got ${m.got}`);
}

describe('slm-router catalog backend quality', () => {
  it('dev set: at least 95% of in-scope requests fully right, at least 90% of out-of-scope abstained, no wrong command', async () => {
    const set = readLabelled('router-dev-set.json');
    expect(set.length).to.be.at.least(150);
    const e = await evaluate(set, (t) => router.route(t));
    report('dev set', e);
    expect(e.accuracy).to.be.at.least(0.95);
    expect(e.abstentionRate).to.be.at.least(0.9);
    expect(e.wrongCommands).to.equal(0);
  });

  for (const file of ['router-heldout-set.json', 'router-heldout-set-2.json', 'router-scope-dev.json', 'router-scope-heldout.json']) {
    it(`${file}: the same bars`, async () => {
      const e = await evaluate(readLabelled(file), (t) => router.route(t));
      report(file, e);
      expect(e.wrongCommands).to.equal(0);
      expect(e.accuracy).to.be.at.least(0.95);
      expect(e.abstentionRate).to.be.at.least(0.9);
    });
  }
});
