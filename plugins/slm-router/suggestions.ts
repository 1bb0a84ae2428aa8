// Phrasings the operator can send instead: each is written so that the catalog router routes it
// to the draft it describes (a test holds the router to that).
import type { Intent } from '../../core/sdk/index.js';
import type { TargetRef } from './fleet.js';

const MAX_SUGGESTIONS = 4;

export function phrase(intent: Intent, target: string, argName?: string): string {
  const template = intent.suggestion ?? (intent.argument ? `${intent.name.replace(/-/g, ' ')} {arg} on {target}` : `${intent.name.replace(/-/g, ' ')} on {target}`);
  const arg = argName ?? intent.argument?.values[0]?.name ?? '';
  return template.replace('{target}', target).replace('{arg}', arg);
}

/** The intent (with each argument value, or the given one) aimed at each target, a few at most. */
export function suggestFor(intent: Intent, targets: readonly TargetRef[], argName?: string): string[] {
  const args = argName || !intent.argument ? [argName] : intent.argument.values.map((v) => v.name);
  const out: string[] = [];
  for (const t of targets) for (const a of args) out.push(phrase(intent, t.name, a));
  return spread(out);
}

/** A few of `items`, spread over the list rather than its head, without repeats. */
export function spread(items: readonly string[], max = MAX_SUGGESTIONS): string[] {
  const unique = [...new Set(items)];
  if (unique.length <= max) return unique;
  const step = unique.length / max;
  return Array.from({ length: max }, (_, i) => unique[Math.floor(i * step)]);
}
