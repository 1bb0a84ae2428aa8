// Scores a router against a labelled set: in-scope accuracy (intent, argument and target all
// right) and the share of out-of-scope requests it abstains on. Shared by the quality tests and
// the bench.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../core/project-root.js';
import type { RouteResult } from '../../core/contracts/index.js';

export interface Labelled {
  text: string;
  intent: string | null;
  arg: string | null;
  target: string | null;
}

export interface Evaluation {
  inScope: number;
  inScopeRight: number;
  outOfScope: number;
  abstained: number;
  accuracy: number;
  abstentionRate: number;
  misses: { text: string; expected: string; got: string }[];
}

export function readLabelled(name: string): Labelled[] {
  return JSON.parse(readFileSync(join(projectRoot(), 'test', 'fixtures', name), 'utf8')) as Labelled[];
}

export async function evaluate(set: readonly Labelled[], route: (text: string) => Promise<RouteResult> | RouteResult): Promise<Evaluation> {
  const e: Evaluation = { inScope: 0, inScopeRight: 0, outOfScope: 0, abstained: 0, accuracy: 0, abstentionRate: 0, misses: [] };
  for (const item of set) {
    const r = await route(item.text);
    const got = r.intent === null ? `abstain ${r.reason}: ${r.explanation}` : `${r.intent} ${r.argName ?? '-'} ${r.target} (${r.confidence}) ${r.explanation}`;
    if (item.intent === null) {
      e.outOfScope++;
      if (r.intent === null) e.abstained++;
      else e.misses.push({ text: item.text, expected: 'abstain', got });
    } else {
      e.inScope++;
      if (r.intent === item.intent && r.argName === item.arg && r.target === item.target) e.inScopeRight++;
      else e.misses.push({ text: item.text, expected: `${item.intent} ${item.arg ?? '-'} ${item.target}`, got });
    }
  }
  e.accuracy = e.inScope ? e.inScopeRight / e.inScope : 1;
  e.abstentionRate = e.outOfScope ? e.abstained / e.outOfScope : 1;
  return e;
}
