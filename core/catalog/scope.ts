// What in a request is refused and what is left out: the reach of its negations ("do not reboot
// leased", "stop them from rebooting", "without rebooting") and of its exclusions ("all except
// leased", "onprem but not leased", "skip leased"). Read over tokens, with the catalog's word
// lists, and the positions of target mentions found by the caller. The router reads a request
// with it, and the signer's guard checks every draft against it, whichever backend made it.
import type { Catalog } from './types.js';
import { tokenise, type Token } from './text.js';

export interface Span {
  start: number;
  /** Exclusive. */
  end: number;
}

/** A stretch of the request that a cue refuses or leaves out. */
export interface ScopeSpan extends Span {
  /** The cue's stems ("do", "not"; "except"): a keyword that contains them is not refused by them ("cancel maintenance"). */
  cue: string[];
}

export interface Scope {
  /** What is refused: an intent word in here is not asked for, and neither are its targets. */
  negated: ScopeSpan[];
  /** Target mentions that are left out: "except leased", "but not onprem and leased". */
  excluded: ScopeSpan[];
}

export interface ScopeWords {
  negations: string[][];
  exceptions: string[][];
  /** Words that may sit between a cue and its target ("except for the leased node"). */
  skippable: Set<string>;
}

// Structure words of English, like the stemmer's rules: a cue's reach ends at a clause break or at
// a conjunction that starts another clause (not one that joins targets: "not onprem and leased").
const CONJUNCTIONS = new Set(['and', 'but', 'then', 'instead', 'just', 'so', 'or', 'only', 'rather', 'while', 'also']);
const LIST_JOINERS = new Set(['and', 'or', 'nor']);
/**
 * What a negation may stand before and still be about what came before it: "reboot leased is
 * not allowed", "… is what I would not do", "rebooting leased is forbidden".
 */
const PREDICATES = new Set(['do', 'it', 'that', 'this', 'so', 'allowed', 'permitted', 'ok', 'okay', 'fine', 'safe', 'wanted', 'needed', 'necessary', 'required', 'good', 'wise', 'acceptable', 'an', 'option', 'please'].map((w) => tokenise(w)[0].stem));
/** "leased excluded", "leave leased alone", "with leased spared": words after a target that leave it out. */
// Compared as written, not stemmed: "all nodes excluding onprem" is a cue before onprem, not after "all nodes".
const AFTER_EXCLUSIONS = ['excluded', 'exempt', 'exempted', 'spared', 'alone', 'aside', 'untouched', 'out of it', 'out of this'].map((w) => w.split(' '));
/** "stop X from rebooting", "prevent X from", "keep X from", "block X from": what follows "from" is refused. */
const PROHIBITIONS = new Set(['stop', 'prevent', 'keep', 'block', 'forbid', 'bar']);

const stemsOf = (text: string) => tokenise(text).map((t) => t.stem);

export function scopeWords(catalog: Catalog): ScopeWords {
  return {
    negations: catalog.negations.map(stemsOf).filter((s) => s.length),
    exceptions: catalog.targetWords.except.map(stemsOf).filter((s) => s.length),
    skippable: new Set([...catalog.fillers, ...catalog.targetWords.node, 'for', 'of', 'the'].flatMap(stemsOf)),
  };
}

export function readScope(tokens: readonly Token[], words: ScopeWords, mentions: readonly Span[]): Scope {
  const mentionAt = (i: number) => mentions.find((m) => m.start === i);
  const negated: ScopeSpan[] = [];
  const excluded: ScopeSpan[] = [];
  const longest = (cues: string[][], i: number) =>
    cues.filter((c) => c.every((s, k) => tokens[i + k]?.stem === s && (k === 0 || !tokens[i + k].breakBefore))).sort((a, b) => b.length - a.length)[0];

  /** The next position after `from` that is not a skippable word, within the clause. */
  const nextWord = (from: number) => {
    let j = from;
    while (j < tokens.length && !mentionAt(j) && words.skippable.has(tokens[j].stem) && !(j > from && tokens[j].breakBefore)) j++;
    return j;
  };
  /** A list of mentions from `start`: "onprem", "onprem and leased", "onprem, leased or node 4". */
  const listFrom = (start: number) => {
    let end = mentionAt(start)!.end;
    for (;;) {
      const j = nextWord(LIST_JOINERS.has(tokens[end]?.stem ?? '') ? end + 1 : end);
      const next = mentionAt(j);
      if (!next) return end;
      end = next.end;
    }
  };
  /** Where a negation starting at `from` stops reaching. */
  const clauseEnd = (from: number) => {
    for (let j = from; j < tokens.length; j++) {
      // Punctuation right after the cue does not end it: "never, ever reboot leased" refuses the reboot.
      if (j > from && tokens[j].breakBefore) return j;
      // "… and ping onprem" starts a clause; "… and leased" lists another target.
      if (j > from && CONJUNCTIONS.has(tokens[j].stem) && !mentionAt(nextWord(j + 1))) return j;
    }
    return tokens.length;
  };

  for (const m of mentions) {
    const after = AFTER_EXCLUSIONS.find((c) => c.every((w, k) => tokens[m.end + k]?.raw === w));
    if (after) excluded.push({ start: m.start, end: m.end, cue: after });
  }
  for (let i = 0; i < tokens.length; i++) {
    if (mentionAt(i)) continue;
    const exception = longest(words.exceptions, i);
    const negation = longest(words.negations, i);
    const cue = [exception, negation].filter((c) => c).sort((a, b) => b!.length - a!.length)[0];
    if (!cue) continue;
    if (negation && negation.length === cue.length && PROHIBITIONS.has(negation[0])) {
      const end = clauseEnd(i + 1);
      const from = tokens.findIndex((t, j) => j > i && j < end && t.stem === 'from');
      if (from > 0) {
        // "stop the operators from rebooting leased", "prevent leased from being rebooted": what
        // follows "from" is refused; the cue is "from", so a keyword using "stop" is refused too.
        negated.push({ start: from + 1, end: clauseEnd(from + 1), cue: ['from'] });
        i = from;
        continue;
      }
    }
    const after = nextWord(i + cue.length);
    if (mentionAt(after)) {
      // "except leased", "not onprem", "skip leased": targets left out.
      const end = listFrom(after);
      excluded.push({ start: after, end, cue });
      i = end - 1;
      continue;
    }
    if (!negation || negation.length < cue.length) continue; // "but ping onprem": a plain conjunction.
    const start = i + negation.length;
    const end = clauseEnd(start);
    // "reboot leased. no wait, don't", "rebooting leased is not allowed": a negation with nothing
    // (or only a predicate) after it takes back what came before.
    const bare = tokens.slice(start, end).every((t) => PREDICATES.has(t.stem));
    negated.push(bare && i > 0 ? { start: 0, end: i, cue: negation } : { start, end, cue: negation });
    i = start - 1;
  }
  return { negated, excluded };
}

export function within(span: Span, position: number): boolean {
  return position >= span.start && position < span.end;
}
