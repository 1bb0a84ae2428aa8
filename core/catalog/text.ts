// Text primitives of the catalog's language: tokens, a light stemmer, edit distance and character
// n-gram vectors. Plain functions over strings; nothing here knows about intents. Here, in core,
// because the router and the signer's scope guard must read a request the same way.

export interface Token {
  /** As written, lower-cased. */
  raw: string;
  /** Stem of `raw` (see stem()); addresses and numbers are kept as they are. */
  stem: string;
  /** Punctuation (, ; : . ! ? a dash between spaces) stands between this token and the one before: a clause may end there. */
  breakBefore?: boolean;
}

const ADDRESS = /^\d{1,3}(\.\d{1,3}){3}$/;
const TOKEN = /\d{1,3}(?:\.\d{1,3}){3}|[a-z0-9]+/g;
// A hyphen inside a word ("on-prem") is no break; one between spaces is.
const CLAUSE_BREAK = /[,;:.!?()\u2013\u2014]|\s-\s/;

export function normalise(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[\u2018\u2019\u02bc]/g, "'")
    .toLowerCase();
}

// Contractions are spelled out so that "don't" meets "not" and "how's" meets "how is".
const CONTRACTIONS: [RegExp, string][] = [
  [/\b(can)'t\b/g, '$1 not'],
  [/\bwon't\b/g, 'will not'],
  [/n't\b/g, ' not'],
  [/'re\b/g, ' are'],
  [/'m\b/g, ' am'],
  [/'ll\b/g, ' will'],
  [/'ve\b/g, ' have'],
  [/'d\b/g, ' would'],
  [/\b(it|that|what|how|who|where|there|here|he|she)'s\b/g, '$1 is'],
  [/\blet's\b/g, 'let us'],
  // What is left is a possessive: "leased's keys" are leased's.
  [/'s\b/g, ''],
];

export function tokenise(text: string): Token[] {
  let t = normalise(text);
  for (const [pattern, replacement] of CONTRACTIONS) t = t.replace(pattern, replacement);
  // "un-quarantine", "re-read": one word, or the prefix would be lost.
  t = t.replace(/\b(un|re|de|non)-(?=[a-z])/g, '$1');
  const tokens: Token[] = [];
  let end = 0;
  for (const m of t.matchAll(TOKEN)) {
    const raw = m[0];
    const token: Token = { raw, stem: stem(raw) };
    if (tokens.length && CLAUSE_BREAK.test(t.slice(end, m.index))) token.breakBefore = true;
    tokens.push(token);
    end = m.index + raw.length;
  }
  return tokens;
}

export function isAddress(word: string): boolean {
  return ADDRESS.test(word);
}

/**
 * Strips inflection so "rebooting", "rebooted" and "reboots" meet "reboot", "verbosely" "verbose", "nodes" meets "node",
 * "quarantined" meets "quarantine". Not linguistics: the same function runs on the catalog's
 * words and on the input, so only consistency matters.
 */
export function stem(word: string): string {
  if (!/^[a-z]+$/.test(word) || word.length < 4) return word;
  let w = word;
  for (const suffix of ['ing', 'ed', 'es', 'ly', 's']) {
    const keep = suffix === 'ly' ? 4 : 3;
    if (w.endsWith(suffix) && w.length - suffix.length >= keep && !w.endsWith('ss')) {
      w = w.slice(0, -suffix.length);
      // "stopped" → "stopp" → "stop"
      if (/([bdgmnprt])\1$/.test(w)) w = w.slice(0, -1);
      break;
    }
  }
  if (w.length > 3 && w.endsWith('e')) w = w.slice(0, -1);
  return w;
}

/** Damerau-Levenshtein (optimal string alignment) distance, or max + 1 once it exceeds max. */
export function editDistance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let prev2: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, prev2[j - 2] + 1);
      cur.push(d);
      rowMin = Math.min(rowMin, d);
    }
    if (rowMin > max) return max + 1;
    prev2 = prev;
    prev = cur;
  }
  return prev[b.length];
}

/**
 * How many edits a word of this length may carry and still be recognised: none for short words
 * (too many neighbours), a swap of two letters from 4, one edit from 5, two from 8.
 */
export function typoBudget(length: number): { max: number; swapOnly: boolean } {
  if (length >= 8) return { max: 2, swapOnly: false };
  if (length >= 5) return { max: 1, swapOnly: false };
  if (length === 4) return { max: 1, swapOnly: true };
  return { max: 0, swapOnly: false };
}

function isSwap(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  const diff = [...a].flatMap((c, i) => (c === b[i] ? [] : [i]));
  return diff.length === 2 && diff[1] === diff[0] + 1 && a[diff[0]] === b[diff[1]] && a[diff[1]] === b[diff[0]];
}

/**
 * The one word of `vocabulary` that `word` (a stem) is a typo of, with the distance; none if
 * unclear. The budget follows the length of the word as written.
 */
export function closestWord(word: string, writtenLength: number, vocabulary: readonly string[]): { word: string; distance: number } | undefined {
  const { max, swapOnly } = typoBudget(writtenLength);
  if (max === 0) return undefined;
  let best: string | undefined;
  let bestDistance = max + 1;
  let tie = false;
  for (const candidate of vocabulary) {
    if (candidate.length < 4) continue;
    const d = editDistance(word, candidate, max);
    if (d > max || (swapOnly && !isSwap(word, candidate))) continue;
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
      tie = false;
    } else if (d === bestDistance && candidate !== best) tie = true;
  }
  return best && !tie ? { word: best, distance: bestDistance } : undefined;
}

export type NgramVector = { weights: Map<string, number>; norm: number };

/** Character trigrams of each word (padded), counted: tolerant of typos and inflection. */
export function trigrams(words: readonly string[]): Map<string, number> {
  const grams = new Map<string, number>();
  for (const w of words) {
    const padded = ` ${w} `;
    for (let i = 0; i + 3 <= padded.length; i++) {
      const g = padded.slice(i, i + 3);
      grams.set(g, (grams.get(g) ?? 0) + 1);
    }
  }
  return grams;
}

export function vector(grams: Map<string, number>, idf: (gram: string) => number): NgramVector {
  const weights = new Map<string, number>();
  let sum = 0;
  for (const [g, count] of grams) {
    const w = count * idf(g);
    weights.set(g, w);
    sum += w * w;
  }
  return { weights, norm: Math.sqrt(sum) };
}

export function cosine(a: NgramVector, b: NgramVector): number {
  if (a.norm === 0 || b.norm === 0) return 0;
  const [small, large] = a.weights.size <= b.weights.size ? [a, b] : [b, a];
  let dot = 0;
  for (const [g, w] of small.weights) dot += w * (large.weights.get(g) ?? 0);
  return dot / (a.norm * b.norm);
}
