// The last check before signing, whichever router made the draft (the catalog, a model, a user's
// plugin): the draft must not do what its own text refuses ("do not reboot leased") nor reach a
// node its text leaves out ("reboot everything except leased"). It reads the text with the
// catalog's scope rules (core/catalog/scope.ts) and the fleet's names on its own, so a router
// that ignores negation cannot get such a draft signed. It only ever refuses; it never reads an
// intent into a text.
import { readScope, scopeWords, tokenise, within, type Catalog, type ScopeSpan, type Span, type Token } from '../catalog/index.js';
import { targetMatches } from '../protocol/target.js';
import type { Fleet } from './fleet.js';
import { draftTargets, type Draft } from './intent.js';

export type GuardVerdict =
  | { ok: true }
  | { ok: false; reason: 'negated' | 'excluded-target'; explanation: string };

interface FleetMention extends Span {
  text: string;
  nodeIds: number[];
}

export interface DraftGuard {
  check(text: string, draft: Draft): GuardVerdict;
}

export function createDraftGuard(catalog: Catalog, fleet: Fleet): DraftGuard {
  const words = scopeWords(catalog);
  const stems = (text: string) => tokenise(text).map((t) => t.stem);
  const commandNodes = fleet.nodes.filter((n) => n.takesCommands);
  const phrases: { stems: string[]; nodeIds: number[] }[] = [];
  for (const n of fleet.nodes) for (const name of [n.name, ...n.aliases, n.address]) phrases.push({ stems: stems(name), nodeIds: [n.id] });
  for (const g of fleet.groups) {
    const ids = fleet.nodes.filter((n) => n.groups.includes(g.id)).map((n) => n.id);
    for (const name of [g.name, ...g.aliases]) phrases.push({ stems: stems(name), nodeIds: ids });
  }
  for (const name of catalog.targetWords.all) phrases.push({ stems: stems(name), nodeIds: commandNodes.map((n) => n.id) });
  phrases.sort((a, b) => b.stems.length - a.stems.length);
  const nodeNouns = new Set(catalog.targetWords.node.flatMap(stems));
  const keywordsOf = new Map(catalog.intents.map((i) => [i.name, [...i.keywords, ...(i.hints ?? [])].map(stems)]));
  const allKeywords = [...keywordsOf.values()].flat();
  const argumentPhrases = new Map(catalog.intents.flatMap((i) => (i.argument?.values ?? []).map((v) => [`${i.name}/${v.name}`, [v.name, ...v.synonyms].map(stems)] as const)));
  /** Where the draft's argument is written: "restart everything except telemetry" names it to leave it out. */
  const argumentSpans = (tokens: readonly Token[], draft: Draft): Span[] =>
    (argumentPhrases.get(`${draft.intent}/${draft.argName}`) ?? []).flatMap((p) =>
      tokens.flatMap((_, i) => (p.length && p.every((s, k) => tokens[i + k]?.stem === s) ? [{ start: i, end: i + p.length }] : [])));

  const find = (tokens: readonly Token[]): FleetMention[] => {
    const found: FleetMention[] = [];
    for (let i = 0; i < tokens.length; ) {
      const p = phrases.find((x) => x.stems.length && x.stems.every((s, k) => tokens[i + k]?.stem === s));
      const id = nodeNouns.has(tokens[i].stem) && /^\d{1,3}$/.test(tokens[i + 1]?.stem ?? '') ? Number(tokens[i + 1].stem) : undefined;
      const length = p ? p.stems.length : id !== undefined ? 2 : 0;
      if (!length) {
        i++;
        continue;
      }
      found.push({ start: i, end: i + length, text: tokens.slice(i, i + length).map((t) => t.raw).join(' '), nodeIds: p ? p.nodeIds : [id!] });
      i += length;
    }
    return found;
  };

  /** Positions where a keyword has all its words inside `span` (none of them the cue itself). */
  const keywordIn = (tokens: readonly Token[], span: ScopeSpan, keyword: string[]) =>
    !keyword.some((s) => span.cue.includes(s)) && keyword.every((s) => tokens.some((t, i) => within(span, i) && t.stem === s));

  return {
    check(text, draft) {
      const tokens = tokenise(text);
      const mentions = find(tokens);
      const scope = readScope(tokens, words, mentions);
      const reached = new Set(commandNodes.filter((n) => draftTargets(draft).some((t) => targetMatches(t.selector, n.id, new Set(n.groups)))).map((n) => n.id));
      const named = (span: Span) => mentions.filter((m) => m.start >= span.start && m.end <= span.end);
      const hits = (span: Span) => named(span).filter((m) => m.nodeIds.some((id) => reached.has(id)));
      const quote = (span: Span) => `'${tokens.slice(span.start, span.end).map((t) => t.raw).join(' ')}'`;

      for (const span of scope.excluded) {
        const hit = hits(span);
        if (hit.length) return { ok: false, reason: 'excluded-target', explanation: `the text leaves out ${hit.map((m) => `'${m.text}'`).join(', ')} (after '${span.cue.join(' ')}'), and the draft's target ${draft.target} reaches it` };
      }
      const args = argumentSpans(tokens, draft);
      const argScope = readScope(tokens, words, args);
      const refusedArg = args.find((a) => [...argScope.excluded, ...argScope.negated].some((span) => within(span, a.start)));
      if (refusedArg) return { ok: false, reason: 'negated', explanation: `the text leaves out the argument ${quote(refusedArg)} that the draft carries (${draft.argName})` };
      const own = keywordsOf.get(draft.intent) ?? [];
      for (const span of scope.negated) {
        const mine = own.some((k) => keywordIn(tokens, span, k));
        const other = !mine && allKeywords.some((k) => keywordIn(tokens, span, k));
        // Refused for the targets the negation names, or for any target if it names none.
        const aimedHere = named(span).length === 0 || hits(span).length > 0;
        if (mine && aimedHere) return { ok: false, reason: 'negated', explanation: `the text refuses ${draft.intent} (${quote(span)} after '${span.cue.join(' ')}')` };
        // "don't touch leased": no intent word, so what it names is left out.
        if (!mine && !other && hits(span).length) return { ok: false, reason: 'excluded-target', explanation: `the text refuses ${quote(span)} (after '${span.cue.join(' ')}'), and the draft's target ${draft.target} reaches it` };
      }
      return { ok: true };
    },
  };
}
