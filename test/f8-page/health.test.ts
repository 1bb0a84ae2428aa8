// The page's health labels (web/views.js, loaded as the browser loads it): by the age of a node's
// last authenticated message against the F8 stage's thresholds, at and around each boundary.
import { expect } from 'chai';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { webDir } from '../../plugins/f8-ingress/page-files.js';

type Health = 'up' | 'stale' | 'down' | 'never';
const { healthOf, duration } = (await import(pathToFileURL(join(webDir(), 'views.js')).href)) as {
  healthOf: (lastSeen: string | undefined, now: number, t: { staleAfterMs: number; downAfterMs: number }) => Health;
  duration: (ms: number) => string;
};

describe('F8 page health labels', () => {
  const now = Date.parse('2026-12-01T12:00:00.000Z');
  const heard = (msAgo: number) => new Date(now - msAgo).toISOString();
  const thresholds = { staleAfterMs: 300_000, downAfterMs: 900_000 };

  it('is up below staleAfterMs, stale from it to below downAfterMs, down from there on, never when never heard', () => {
    expect([0, 299_999, 300_000, 899_999, 900_000, 86_400_000].map((ago) => healthOf(heard(ago), now, thresholds))).to.deep.equal([
      'up', 'up', 'stale', 'stale', 'down', 'down',
    ]);
    expect(healthOf(undefined, now, thresholds)).to.equal('never');
  });

  it('counts a last-heard time ahead of the page clock (clock skew) as up', () => {
    expect(healthOf(heard(-5_000), now, thresholds)).to.equal('up');
  });

  it('words the thresholds for the legend', () => {
    expect([duration(300_000), duration(900_000), duration(45_000)]).to.deep.equal(['5 min', '15 min', '45 s']);
  });
});
