// Router quality on labelled requests. The dev set was written before the router was built; each
// held-out set after a round of tuning, to estimate how the catalog router does on language it
// was not tuned on (their first figures: 98.2% / 100% and 97.3% / 100%). All print their figures.
import { expect } from 'chai';
import { loadCatalog } from '../../core/catalog/index.js';
import { demoFleet } from '../../core/contracts/index.js';
import { createRouter } from '../../plugins/slm-router/router.js';
import { evaluate, readLabelled, type Evaluation } from './evaluate.js';

const router = createRouter({ backend: 'catalog' }, loadCatalog(), demoFleet());

function report(name: string, e: Evaluation): void {
  console.log(`      ${name}: in-scope accuracy ${e.inScopeRight}/${e.inScope} = ${(100 * e.accuracy).toFixed(1)}%, out-of-scope abstention ${e.abstained}/${e.outOfScope} = ${(100 * e.abstentionRate).toFixed(1)}%`);
  for (const m of e.misses) console.log(`        miss: "${m.text}": expected ${m.expected}, got ${m.got}`);
}

describe('slm-router catalog backend quality', () => {
  it('dev set: at least 95% of in-scope requests fully right, at least 90% of out-of-scope abstained', async () => {
    const set = readLabelled('router-dev-set.json');
    expect(set.length).to.be.at.least(150);
    const e = await evaluate(set, (t) => router.route(t));
    report('dev set', e);
    expect(e.accuracy).to.be.at.least(0.95);
    expect(e.abstentionRate).to.be.at.least(0.9);
  });

  for (const file of ['router-heldout-set.json', 'router-heldout-set-2.json']) {
    it(`${file}: the same bars`, async () => {
      const e = await evaluate(readLabelled(file), (t) => router.route(t));
      report(file, e);
      expect(e.accuracy).to.be.at.least(0.95);
      expect(e.abstentionRate).to.be.at.least(0.9);
    });
  }
});
