// The embedded, deterministic backend. It reads a request the way the catalog describes its
// intents: keywords (any order, typos corrected, inflections stemmed) give the evidence, the
// closest example (character trigrams) refines it, and every word that the chosen intent cannot
// explain lowers the confidence. Below the threshold it abstains instead of guessing.
import {
  closestWord, cosine, isAddress, readScope, scopeWords, stem, tokenise, trigrams, vector, within,
  type Abstention, type AbstainReason, type Catalog, type Fleet, type Intent, type NgramVector, type RouteResult, type ScopeSpan, type Token,
} from '../../core/sdk/index.js';
import { commandTargets, targetOf } from './fleet.js';
import { suggestFor, spread } from './suggestions.js';
import { aim, buildTargetIndex, describe, type Aim, type Mention, type TargetIndex } from './targets.js';
import { makeDraft } from './draft.js';

export const DEFAULT_THRESHOLD = 0.5;

// Weights of the evidence. A strong keyword alone clears the threshold; a hint needs support
// from the examples; each unexplained word or corrected typo costs a little.
const STRONG = 0.7;
const HINT = 0.4;
const PER_EXTRA_WORD = 0.08;
const MAX_KEYWORD = 0.9;
const EXAMPLE_WEIGHT = 0.2;
const ARGUMENT_BONUS = 0.05;
const UNEXPLAINED_COST = 0.1;
const MAX_UNEXPLAINED_COST = 0.4;
const TYPO_COST = 0.03;
// A runner-up this close, resting on other words, is a second command in the same request.
const SECOND_COMMAND_MARGIN = 0.15;
// A runner-up this close on the same words means the words do not decide.
const TIE_MARGIN = 0.02;
// Who did it, in a statement about the past: "I rebooted onprem", "we rebooted leased".
const SUBJECTS = new Set(['i', 'we', 'you', 'he', 'she', 'they', 'someone', 'somebody', 'anyone', 'nobody', 'who'].map(stem));
// "how do I reboot", "how can we rotate", "how to quarantine": a question about how, not an order.
const AUXILIARIES = new Set(['do', 'does', 'did', 'can', 'could', 'should', 'would', 'shall', 'will', 'may', 'might', 'must']);
// "can anyone reboot leased?", "could I rotate keys?": a question; "can you …" is a polite order.
// "reboot leased if it hangs", "unless it is busy": a command runs now and unconditionally.
const CONDITIONS = new Set(['if', 'unless', 'whenever', 'once']);
const ASKERS = new Set(['i', 'we', 'anyone', 'someone', 'somebody', 'one', 'anybody'].map(stem));
const MAX_CACHED_CORRECTIONS = 10_000;

export interface CatalogAssessment {
  result: RouteResult;
  /**
   * True when the catalog could not read the request (no intent, too little confidence, a tie):
   * a model may do better. False for a draft and for abstentions that rest on a fact (the target
   * takes no commands, an argument is missing, the request says "don't", or asks for what no
   * command does).
   */
  unsure: boolean;
}

export interface CatalogRouter {
  route(text: string): RouteResult;
  assess(text: string): CatalogAssessment;
}

interface Keyword {
  text: string;
  stems: string[];
  weight: number;
}

interface CompiledIntent {
  intent: Intent;
  keywords: Keyword[];
  /** Every stem the intent's own words use: what it can explain. */
  vocabulary: Set<string>;
  examples: { text: string; vector: NgramVector }[];
  /** Longest phrase first, so "telemetry service" wins over "telemetry". */
  values: { name: string; value: number; phrases: string[][] }[];
  argStems: Set<string>;
  nouns: string[][];
}

interface Candidate {
  compiled: CompiledIntent;
  keyword: Keyword;
  /** Token positions the keyword, argument and argument noun rest on. */
  used: Set<number>;
  argNames: string[];
  nounSeen: boolean;
  similarity: number;
  closestExample: string;
  score: number;
  /** Words of the request this intent cannot account for. */
  unexplained: Token[];
  /** score less the cost of unexplained words and typos: what ranks candidates. */
  confidence: number;
}

const stems = (text: string) => tokenise(text).map((t) => t.stem);

export function createCatalogRouter(catalog: Catalog, fleet: Fleet, threshold = DEFAULT_THRESHOLD): CatalogRouter {
  const targets: TargetIndex = buildTargetIndex(fleet, catalog);
  const fillers = new Set(catalog.fillers.flatMap(stems));
  const nodeNouns = new Set(catalog.targetWords.node.flatMap(stems));
  const negations = catalog.negations.map(stems);
  const exceptions = catalog.targetWords.except.map(stems);
  const words = scopeWords(catalog);
  const everyWords = new Set([...catalog.targetWords.allAtEnd.flatMap(stems), 'every', 'each', 'everyon', 'everybody'].map(stem));
  const cues = catalog.outOfScopeCues.map(stems);
  const placeholder = /\{(target|arg)\}/g;
  /** Each example's words as compared: without placeholders and fillers. */
  const exampleWords = (intent: Intent) => intent.examples.map((e) => stems(e.replace(placeholder, ' ')).filter((s) => !fillers.has(s)));

  const intents: CompiledIntent[] = catalog.intents.map((intent) => {
    const keywords = [
      ...intent.keywords.map((k) => ({ text: k, strong: true })),
      ...(intent.hints ?? []).map((k) => ({ text: k, strong: false })),
    ].map(({ text, strong }) => {
      // Every word of a keyword counts, fillers too: "out maintenance" is not "maintenance".
      const words = stems(text);
      return { text, stems: words, weight: Math.min(MAX_KEYWORD, (strong ? STRONG : HINT) + PER_EXTRA_WORD * (words.length - 1)) };
    });
    const values = (intent.argument?.values ?? []).map((v) => ({ name: v.name, value: v.value, phrases: [v.name, ...v.synonyms].map(stems).sort((a, b) => b.length - a.length) }));
    const nouns = (intent.argument?.nouns ?? []).map(stems);
    const vocabulary = new Set([...keywords.flatMap((k) => k.stems), ...values.flatMap((v) => v.phrases.flat()), ...nouns.flat(), ...exampleWords(intent).flat()]);
    return { intent, keywords, vocabulary, values, argStems: new Set(values.flatMap((v) => v.phrases.flat())), nouns, examples: [] };
  });

  // Trigram weights: grams common to every intent's examples say little about which intent it is.
  const df = new Map<string, number>();
  for (const c of intents) for (const g of trigrams(exampleWords(c.intent).flat()).keys()) df.set(g, (df.get(g) ?? 0) + 1);
  const idf = (g: string) => Math.log(1 + intents.length / (df.get(g) ?? 0.5));
  for (const c of intents) {
    const words = exampleWords(c.intent);
    c.examples = c.intent.examples.map((text, i) => ({ text, vector: vector(trigrams(words[i]), idf) }));
  }

  const contentWords = [...new Set([...intents.flatMap((c) => [...c.vocabulary]), ...targets.words])].filter((w) => /^[a-z]+$/.test(w));
  const known = new Set([...contentWords, ...fillers, ...nodeNouns, ...negations.flat(), ...exceptions.flat(), ...cues.flat()]);
  const corrections = new Map<string, { word: string; distance: number } | undefined>();
  const correct = (token: Token): { token: Token; typo?: string } => {
    if (known.has(token.stem) || !/^[a-z]+$/.test(token.stem)) return { token };
    if (!corrections.has(token.stem)) {
      // Requests come from outside: the cache of corrections must not grow without bound.
      if (corrections.size >= MAX_CACHED_CORRECTIONS) corrections.clear();
      corrections.set(token.stem, closestWord(token.stem, token.raw.length, contentWords));
    }
    const fix = corrections.get(token.stem);
    return fix ? { token: { raw: token.raw, stem: fix.word }, typo: token.raw } : { token };
  };
  const allTargets = commandTargets(fleet);
  const negationWords = new Set(negations.flat());
  const neutral = (s: string) => fillers.has(s) || nodeNouns.has(s) || negationWords.has(s);
  const questionWords = new Set(catalog.questionWords.flatMap(stems));
  /** "is leased quarantined?", "when was onprem rebooted?": a question, not an order. */
  const isQuestion = (tokens: readonly Token[]) => tokens.length > 0 && (questionWords.has(tokens[0].stem) || (['can', 'could', 'may'].includes(tokens[0].stem) && ASKERS.has(tokens[1]?.stem ?? '')));
  const isHowTo = (tokens: readonly Token[]) =>
    tokens.some((t, i) => t.stem === 'how' && (tokens[i + 1]?.stem === 'to' || (AUXILIARIES.has(tokens[i + 1]?.stem ?? '') && (ASKERS.has(tokens[i + 2]?.stem ?? '') || tokens[i + 2]?.stem === 'you'))));

  function assess(text: string): CatalogAssessment {
    const corrected = tokenise(text).map(correct);
    const tokens = corrected.map((c) => c.token);
    const typos = corrected.flatMap((c) => (c.typo ? [{ written: c.typo, read: c.token.stem }] : []));
    if (tokens.length === 0) return abstain('out-of-scope', 'the request is empty', generalSuggestions());

    const mentions = targets.find(tokens);
    const free = tokens.map((_, i) => !mentions.some((m) => i >= m.start && i < m.end));
    const positions = (phrase: string[]) => findPhrase(tokens, free, phrase);
    const scope = readScope(tokens, words, mentions);

    // A word for something no command does ("delete", "joke") rules the request out, unless the
    // intent read from it uses that word itself ("drop the log level").
    const cue = (explains: (stem: string) => boolean) => {
      for (const c of cues) {
        const at = positions(c);
        if (at && !c.every(explains)) return abstain('out-of-scope', `'${at.map((i) => tokens[i].raw).join(' ')}' is outside what the fleet's commands do`, generalSuggestions());
      }
      return undefined;
    };

    // "don't reboot", "stop them from rebooting", "cancel the reboot": a keyword in the reach of a
    // negation that is not part of it ("cancel maintenance" is a keyword of its own).
    const refuses = (span: ScopeSpan, keyword: Keyword) => !keyword.stems.some((s) => span.cue.includes(s));
    const negatedAt = (keyword: Keyword, at: number[]) => scope.negated.some((span) => refuses(span, keyword) && at.some((i) => within(span, i)));
    /** The intents a negated stretch names with one of their keywords, wholly inside it. */
    const refusedIn = (span: ScopeSpan) => intents.filter((c) => c.keywords.some((k) => refuses(span, k) && k.stems.every((s) => tokens.some((t, i) => within(span, i) && t.stem === s))));

    const content = tokens.flatMap((t, i) => (free[i] && !fillers.has(t.stem) ? [i] : []));
    const contentVector = vector(trigrams(content.map((i) => tokens[i].stem)), idf);
    let negated: Intent | undefined;
    const candidates: Candidate[] = [];
    for (const compiled of intents) {
      let best: Keyword | undefined;
      const keywordPositions = new Set<number>();
      for (const keyword of compiled.keywords) {
        const at = keyword.stems.map((s) => tokens.findIndex((t, i) => free[i] && t.stem === s));
        if (at.some((i) => i < 0)) continue;
        if (negatedAt(keyword, at)) {
          negated ??= compiled.intent;
          continue;
        }
        for (const i of at) keywordPositions.add(i);
        if (!best || keyword.weight > best.weight) best = keyword;
      }
      if (!best) continue;
      const used = new Set(keywordPositions);
      const argNames: string[] = [];
      for (const v of compiled.values) {
        for (const p of v.phrases) {
          const at = positions(p);
          if (!at) continue;
          at.forEach((i) => used.add(i));
          if (!argNames.includes(v.name)) argNames.push(v.name);
          break;
        }
      }
      let nounSeen = false;
      for (const n of compiled.nouns) {
        const at = positions(n);
        if (at) {
          nounSeen = true;
          at.forEach((i) => used.add(i));
        }
      }
      // Compare only what the examples can contain: no targets, no fillers, no argument values.
      const input = argNames.length ? vector(trigrams(content.filter((i) => !(compiled.argStems.has(tokens[i].stem) && used.has(i))).map((i) => tokens[i].stem)), idf) : contentVector;
      let similarity = 0;
      let closestExample = '';
      for (const e of compiled.examples) {
        const s = cosine(input, e.vector);
        if (s > similarity) [similarity, closestExample] = [s, e.text];
      }
      const score = best.weight + EXAMPLE_WEIGHT * similarity + (argNames.length ? ARGUMENT_BONUS : 0);
      // Words this intent cannot account for: a request about something else, or more than a command.
      // What a negation refuses is accounted for by it: "do not reboot, just check telemetry".
      const unexplained = tokens.filter((t, i) => free[i] && !neutral(t.stem) && !compiled.vocabulary.has(t.stem) && !scope.negated.some((span) => within(span, i)));
      const cost = Math.min(MAX_UNEXPLAINED_COST, UNEXPLAINED_COST * unexplained.length) + TYPO_COST * typos.length;
      const confidence = clamp(Math.min(1, score) - cost);
      candidates.push({ compiled, keyword: best, used, argNames, nounSeen, similarity, closestExample, score, unexplained, confidence });
    }
    candidates.sort((a, b) => b.confidence - a.confidence);

    if (candidates.length === 0) {
      const ruledOut = cue(() => false);
      if (ruledOut) return ruledOut;
      if (negated) return abstain('negated', `the request says not to ${negated.name}`, []);
      return abstain('out-of-scope', 'no intent of the catalog is named', generalSuggestions(), true);
    }

    if (isHowTo(tokens)) {
      const name = candidates[0].compiled.intent.name;
      return abstain('out-of-scope', `a question about how to ${name}, not an order to do it`, suggestFor(candidates[0].compiled.intent, allTargets.slice(0, 2)));
    }
    if (isQuestion(tokens) && !candidates[0].compiled.intent.readOnly) {
      const name = candidates[0].compiled.intent.name;
      const readOnly = catalog.intents.filter((i) => i.readOnly);
      const aimed = aim(fleet, mentions);
      return abstain('out-of-scope', `a question about ${name}, not an order to do it; only ${readOnly.map((i) => i.name).join(' and ') || 'no intent'} may answer a question`, readOnly.flatMap((i) => suggestFor(i, aimed.ok ? [aimed.target] : allTargets.slice(0, 1))));
    }

    // An intent that needs an argument and got none: incomplete if the request names the kind of
    // argument ("the service"), otherwise probably another intent using the same verb ("restart leased").
    let winner = candidates[0];
    const notes: string[] = [];
    const required = (c: Candidate) => c.compiled.intent.argument?.required && c.argNames.length === 0;
    if (required(winner)) {
      const alternative = candidates.find((c) => !required(c) && c.keyword.stems.some((s) => winner.keyword.stems.includes(s)));
      if (winner.nounSeen || !alternative) {
        const aimed = aim(fleet, mentions);
        const targetsFor = aimed.ok ? [aimed.target] : allTargets;
        return abstain('missing-argument', `${winner.compiled.intent.name} needs one of: ${winner.compiled.values.map((v) => v.name).join(', ')}`, suggestFor(winner.compiled.intent, targetsFor));
      }
      notes.push(`'${winner.keyword.text}' without a ${winner.compiled.intent.name} argument read as ${alternative.compiled.intent.name}`);
      winner = alternative;
    }
    if (winner.argNames.length > 1) {
      const aimed = aim(fleet, mentions);
      return abstain('ambiguous', `${winner.compiled.intent.name} names several arguments (${winner.argNames.join(', ')}); one command carries one`, winner.argNames.flatMap((a) => suggestFor(winner.compiled.intent, aimed.ok ? [aimed.target] : allTargets.slice(0, 1), a)));
    }
    const rival = candidates.find((c) => c !== winner && !required(c));
    if (rival) {
      const separate = [...rival.used].every((i) => !winner.used.has(i));
      if ((separate && rival.keyword.weight >= STRONG && rival.score >= winner.score - SECOND_COMMAND_MARGIN) || rival.confidence >= winner.confidence - TIE_MARGIN) {
        const aimed = aim(fleet, mentions);
        const t = aimed.ok ? [aimed.target] : allTargets.slice(0, 1);
        return abstain('ambiguous', separate ? `two commands in one request: ${winner.compiled.intent.name} ('${winner.keyword.text}') and ${rival.compiled.intent.name} ('${rival.keyword.text}'); send them one at a time` : `'${winner.keyword.text}' fits ${winner.compiled.intent.name} and ${rival.compiled.intent.name} alike`, [...suggestFor(winner.compiled.intent, t, winner.argNames[0]), ...suggestFor(rival.compiled.intent, t, rival.argNames[0])], !separate);
      }
    }

    const ruledOut = cue((s) => winner.compiled.vocabulary.has(s));
    if (ruledOut) return ruledOut;
    const { unexplained, confidence } = winner;
    const intent = winner.compiled.intent;
    const reading = [
      `intent ${intent.name}: keyword '${winner.keyword.text}'`,
      ...typos.map((t) => `read '${t.written}' as '${t.read}'`),
      `closest example "${winner.closestExample}" (${winner.similarity.toFixed(2)})`,
      ...(unexplained.length ? [`unexplained: ${unexplained.map((t) => `'${t.raw}'`).join(', ')}`] : []),
      ...notes,
    ].join('; ');
    if (confidence < threshold) {
      return abstain('out-of-scope', `best reading (${reading}) has confidence ${confidence.toFixed(2)}, below ${threshold}`, suggestFor(intent, allTargets.slice(0, 2), winner.argNames[0]), true);
    }

    // "leased rebooted last night", "I rebooted onprem": a statement about the past.
    const past = [...winner.used].find((i) => /ed$/.test(tokens[i].raw) && tokens[i].stem !== tokens[i].raw && i > 0 && (SUBJECTS.has(tokens[i - 1].stem) || mentions.some((m) => m.start === 0 && m.end === i)));
    if (past !== undefined) return abstain('out-of-scope', `'${tokens.slice(Math.max(0, past - 1), past + 1).map((t) => t.raw).join(' ')}' tells of something done, not an order`, suggestFor(intent, allTargets.slice(0, 2), winner.argNames[0]));

    // "leave leased in quarantine", "keep onprem in maintenance": no change is asked for.
    const unchanged = mentions.find((m) => m.start > 0 && ['leav', 'keep', 'stay'].includes(tokens[m.start - 1].stem) && ['in', 'under', 'on'].includes(tokens[m.end]?.stem ?? ''));
    if (unchanged) return abstain('out-of-scope', `'${tokens[unchanged.start - 1].raw} ${unchanged.text} ${tokens[unchanged.end].raw} …' asks for no change`, suggestFor(intent, allTargets.slice(0, 2), winner.argNames[0]));
    const condition = tokens.find((t) => CONDITIONS.has(t.stem));
    if (condition && !intent.readOnly) return abstain('out-of-scope', `'${condition.raw} …' makes ${intent.name} conditional; a command runs now, without conditions`, suggestFor(intent, allTargets.slice(0, 2), winner.argNames[0]));

    // Targets left out: after "except", "but not", "skip", and those of a negation ("… but don't
    // touch leased", "… and don't ping onprem"). Only when nothing else is named does the target of
    // another intent's negation stay: "don't reboot leased, just ping it".
    const excludedHere = (m: Mention) => scope.excluded.some((span) => within(span, m.start));
    const negatedHere = (m: Mention) => scope.negated.filter((span) => within(span, m.start));
    const refusedForWinner = (m: Mention) => negatedHere(m).some((span) => { const r = refusedIn(span); return r.length === 0 || r.includes(winner.compiled); });
    const outside = mentions.filter((m) => !excludedHere(m) && negatedHere(m).length === 0);
    const leftOut = (m: Mention) => excludedHere(m) || refusedForWinner(m) || (negatedHere(m).length > 0 && outside.length > 0);
    const kept = mentions.filter((m) => !leftOut(m));
    const left = mentions.filter(leftOut);
    // "onprem or leased" is a choice, "onprem, then leased" an order: not one command to both.
    const joiner = (k: number) => tokens.slice(kept[k - 1].end, kept[k].start).find((t) => t.stem === 'or' || t.stem === 'then');
    const split = kept.findIndex((_, k) => k > 0 && joiner(k) !== undefined);
    if (split > 0) {
      const pair = `'${kept[split - 1].text} ${joiner(split)!.raw} ${kept[split].text}'`;
      return abstain('ambiguous', joiner(split)!.stem === 'or' ? `${pair} is a choice; name the target (or both: "and")` : `${pair} is an order; send one command at a time`, suggestFor(intent, [kept[split - 1].target, kept[split].target].filter((t) => t !== undefined), winner.argNames[0]));
    }
    const every = left.length > 0 && kept.length === 0 && tokens.some((t, i) => free[i] && everyWords.has(t.stem));
    const aimed = resolveTarget(kept.length || every ? kept : left.length ? [] : unknownNames(tokens, free, known, nodeNouns), left, every);
    if (!aimed.ok) return abstain(aimed.reason, `${intent.name} understood, but ${aimed.explanation}`, suggestFor(intent, allTargets, winner.argNames[0]));

    const value = intent.argument?.values.find((v) => v.name === winner.argNames[0]);
    const explanation = `catalog: ${reading}${value ? `; argument ${value.name} (${value.value})` : ''}; ${aimed.explanation}; confidence ${confidence.toFixed(2)}`;
    return { result: makeDraft(intent, value, aimed.target, confidence, explanation), unsure: false };
  }

  /** What the kept mentions name, less the nodes of those left out ("everything except leased"). */
  function resolveTarget(kept: Mention[], left: Mention[], every: boolean): Aim {
    const aimed = every && kept.length === 0 ? aim(fleet, [{ start: 0, end: 0, text: 'everything', target: allTargets.at(-1) }]) : aim(fleet, kept);
    if (!aimed.ok || left.length === 0) return aimed;
    const unknown = left.find((m) => !m.target && !m.refused);
    if (unknown) return { ok: false, reason: 'unknown-target', explanation: `'${unknown.text}' is left out, but it is not a node of this fleet` };
    const out = new Set(left.flatMap((m) => m.target?.nodeIds ?? []));
    const remaining = aimed.target.nodeIds.filter((id) => !out.has(id));
    const named = left.map((m) => `'${m.text}'`).join(', ');
    if (remaining.length === aimed.target.nodeIds.length) return { ...aimed, explanation: `${aimed.explanation}; ${named} left out, which it does not reach` };
    const target = targetOf(fleet, remaining);
    if (!target) return { ok: false, reason: 'no-target', explanation: `${named} left out of ${aimed.target.name} leaves no node` };
    return { ok: true, target, explanation: `${aimed.explanation}, less ${named} → ${describe(target)}` };
  }

  function abstain(reason: AbstainReason, explanation: string, suggestions: string[], unsure = false): CatalogAssessment {
    const result: Abstention = { intent: null, reason, explanation: `catalog: ${explanation}`, suggestions: spread(suggestions) };
    return { result, unsure };
  }

  function generalSuggestions(): string[] {
    const target = allTargets[0];
    return target ? catalog.intents.slice(0, 3).flatMap((i) => suggestFor(i, [target]).slice(0, 1)) : [];
  }

  return { assess, route: (text) => assess(text).result };
}

/** Positions of `phrase` as consecutive free tokens, or undefined. */
function findPhrase(tokens: readonly Token[], free: readonly boolean[], phrase: readonly string[]): number[] | undefined {
  for (let i = 0; i + phrase.length <= tokens.length; i++) {
    if (phrase.every((s, k) => free[i + k] && tokens[i + k].stem === s)) return phrase.map((_, k) => i + k);
  }
  return undefined;
}

/** "the database server", "10.8.0.7": a name the fleet does not know, to say so rather than "no target". */
function unknownNames(tokens: readonly Token[], free: readonly boolean[], known: Set<string>, nodeNouns: Set<string>): Mention[] {
  for (let i = 0; i + 1 < tokens.length; i++) {
    const t = tokens[i];
    if (free[i] && !known.has(t.stem) && !isAddress(t.stem) && nodeNouns.has(tokens[i + 1].stem)) {
      return [{ start: i, end: i + 2, text: `${t.raw} ${tokens[i + 1].raw}` }];
    }
  }
  return [];
}

function clamp(x: number): number {
  return Math.max(0, Math.min(1, x));
}
