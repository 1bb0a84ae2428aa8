// Scores a router against a labelled set: in-scope accuracy (intent, argument and target all
// right), the share of out-of-scope requests it abstains on, and wrong commands: drafts that are
// not what the label says (another intent, argument or target, or any draft where the label says
// abstain). An abstention costs a retyped sentence; a wrong command can reboot the wrong machine,
// so the two are counted apart. Shared by the quality tests and the bench.
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
  /** Abstentions on in-scope requests: the operator retypes. */
  inScopeAbstained: number;
  /** Drafts that differ from the label, in scope or not. */
  wrongCommands: number;
  accuracy: number;
  abstentionRate: number;
  misses: { text: string; expected: string; got: string; wrongCommand: boolean }[];
}

export function readLabelled(name: string): Labelled[] {
  return JSON.parse(readFileSync(join(projectRoot(), 'test', 'fixtures', name), 'utf8')) as Labelled[];
}

export async function evaluate(set: readonly Labelled[], route: (text: string) => Promise<RouteResult> | RouteResult): Promise<Evaluation> {
  const e: Evaluation = { inScope: 0, inScopeRight: 0, outOfScope: 0, abstained: 0, inScopeAbstained: 0, wrongCommands: 0, accuracy: 0, abstentionRate: 0, misses: [] };
  for (const item of set) {
    const r = await route(item.text);
    const got = r.intent === null ? `abstain ${r.reason}: ${r.explanation}` : `${r.intent} ${r.argName ?? '-'} ${r.target} (${r.confidence}) ${r.explanation}`;
    const right = r.intent === item.intent && (r.intent === null || (r.argName === item.arg && r.target === item.target));
    const wrongCommand = r.intent !== null && !right;
    if (wrongCommand) e.wrongCommands++;
    if (item.intent === null) {
      e.outOfScope++;
      if (r.intent === null) e.abstained++;
      else e.misses.push({ text: item.text, expected: 'abstain', got, wrongCommand });
    } else {
      e.inScope++;
      if (right) e.inScopeRight++;
      else {
        if (r.intent === null) e.inScopeAbstained++;
        e.misses.push({ text: item.text, expected: `${item.intent} ${item.arg ?? '-'} ${item.target}`, got, wrongCommand });
      }
    }
  }
  e.accuracy = e.inScope ? e.inScopeRight / e.inScope : 1;
  e.abstentionRate = e.outOfScope ? e.abstained / e.outOfScope : 1;
  return e;
}
