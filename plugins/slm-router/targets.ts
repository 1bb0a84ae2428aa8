// Finds what a request is aimed at: node names, aliases, mesh addresses, "node 3", groups, and
// words for every node; then turns the mentions into one target and its selector, or says why not.
import type { Catalog, Fleet, FleetNode } from '../../core/sdk/index.js';
import { allTarget, groupTarget, nodeTarget, setTarget, type TargetRef } from './fleet.js';
import { isAddress, tokenise, type Token } from '../../core/sdk/index.js';

export interface Mention {
  start: number;
  /** Exclusive. */
  end: number;
  /** What was written, for explanations. */
  text: string;
  /** The target, or the node that was named but takes no commands, or nothing for an unknown name. */
  target?: TargetRef;
  refused?: FleetNode;
}

interface Phrase {
  stems: string[];
  resolve(): Pick<Mention, 'target' | 'refused'>;
}

export interface TargetIndex {
  /** Stems of every target word, for typo correction. */
  words: Set<string>;
  find(tokens: readonly Token[]): Mention[];
}

export function buildTargetIndex(fleet: Fleet, catalog: Catalog): TargetIndex {
  const phrases: Phrase[] = [];
  const nodeNouns = new Set(catalog.targetWords.node.flatMap((w) => tokenise(w).map((t) => t.stem)));
  const forNode = (node: FleetNode) => () => (node.takesCommands ? { target: nodeTarget(node) } : { refused: node });
  const add = (text: string, resolve: Phrase['resolve']) => {
    const stems = tokenise(text).map((t) => t.stem);
    if (stems.length === 0) return;
    phrases.push({ stems, resolve });
    // "cloud-relay" is also written "cloudrelay", "on-premises" "onpremises".
    if (stems.length > 1) phrases.push({ stems: tokenise(tokenise(text).map((t) => t.raw).join('')).map((t) => t.stem), resolve });
  };
  for (const node of fleet.nodes) {
    for (const name of [node.name, ...node.aliases, node.address]) add(name, forNode(node));
  }
  for (const group of fleet.groups) {
    const target = groupTarget(fleet, group);
    for (const name of [group.name, ...group.aliases]) add(name, () => ({ target }));
  }
  const all = allTarget(fleet);
  for (const phrase of catalog.targetWords.all) add(phrase, () => ({ target: all }));
  const allAtEnd = catalog.targetWords.allAtEnd.map((p) => tokenise(p).map((t) => t.stem));
  // Longest first, so "cloud relay" wins over "relay".
  phrases.sort((a, b) => b.stems.length - a.stems.length);
  const nodesById = new Map(fleet.nodes.map((n) => [n.id, n]));
  const words = new Set(phrases.flatMap((p) => p.stems).filter((s) => !isAddress(s)));

  return {
    words,
    find(tokens) {
      const mentions: Mention[] = [];
      const text = (start: number, end: number) => tokens.slice(start, end).map((t) => t.raw).join(' ');
      for (let i = 0; i < tokens.length; ) {
        const phrase = phrases.find((p) => p.stems.every((s, k) => tokens[i + k]?.stem === s));
        let mention: Mention | undefined;
        if (phrase) {
          mention = { start: i, end: i + phrase.stems.length, text: '', ...phrase.resolve() };
        } else if (isAddress(tokens[i].stem)) {
          mention = { start: i, end: i + 1, text: '' };
        } else if (nodeNouns.has(tokens[i].stem) && /^\d{1,3}$/.test(tokens[i + 1]?.stem ?? '')) {
          // "node 3": the node with that id.
          const node = nodesById.get(Number(tokens[i + 1].stem));
          mention = { start: i, end: i + 2, text: '', ...(node && forNode(node)()) };
        }
        if (!mention) {
          i++;
          continue;
        }
        // "the leased node", "the on-premises box": the noun belongs to the name.
        while (nodeNouns.has(tokens[mention.end]?.stem ?? '')) mention.end++;
        mention.text = text(mention.start, mention.end);
        mentions.push(mention);
        i = mention.end;
      }
      if (mentions.length === 0) {
        const last = allAtEnd.find((p) => p.length <= tokens.length && p.every((s, k) => tokens[tokens.length - p.length + k].stem === s));
        if (last) mentions.push({ start: tokens.length - last.length, end: tokens.length, text: text(tokens.length - last.length, tokens.length), target: all });
      }
      return mentions;
    },
  };
}

export type Aim =
  | { ok: true; target: TargetRef; explanation: string }
  | { ok: false; reason: 'no-target' | 'unknown-target' | 'target-takes-no-commands'; explanation: string };

/**
 * One target from every mention: several mentions that together are exactly a group or the whole
 * fleet go as that ("onprem and leased" = edge), others as the set of what was named; a node that
 * takes no commands refuses the lot.
 */
export function aim(fleet: Fleet, mentions: readonly Mention[]): Aim {
  if (mentions.length === 0) return { ok: false, reason: 'no-target', explanation: 'no target named (a node, a group, an address, or everyone)' };
  const refused = mentions.find((m) => m.refused);
  if (refused?.refused) {
    const node = refused.refused;
    const why = node.role === 'cloud-relay' ? 'it is the hub: it forwards traffic and interprets no commands' : node.role === 'os-network-admin' ? 'it is the authority that sends commands, not a target' : 'it takes no commands';
    return { ok: false, reason: 'target-takes-no-commands', explanation: `'${refused.text}' is ${node.name} (${node.address}): ${why}` };
  }
  const unknown = mentions.find((m) => !m.target);
  if (unknown) return { ok: false, reason: 'unknown-target', explanation: `'${unknown.text}' is not a node of this fleet` };
  const targets = [...new Map(mentions.map((m) => [m.target!.name, m.target!])).values()];
  const named = mentions.map((m) => `'${m.text}'`).join(', ');
  if (targets.length === 1) return { ok: true, target: targets[0], explanation: `target ${named} → ${describe(targets[0])}` };
  const all = allTarget(fleet);
  if (targets.some((t) => t.kind === 'all')) return { ok: true, target: all, explanation: `target ${named} → ${describe(all)}` };
  const union = new Set(targets.flatMap((t) => t.nodeIds));
  const same = (t: TargetRef) => t.nodeIds.length === union.size && t.nodeIds.every((id) => union.has(id));
  const cover = [...fleet.groups.map((g) => groupTarget(fleet, g)), all].find(same);
  if (cover) return { ok: true, target: cover, explanation: `targets ${named} together are ${describe(cover)}` };
  const set = setTarget(targets);
  return { ok: true, target: set, explanation: `targets ${named} → the set ${set.members!.map(describe).join(' + ')}` };
}

export function describe(t: TargetRef): string {
  const hex = `0x${t.selector.toString(16).toUpperCase().padStart(4, '0')}`;
  if (t.kind === 'all') return `every node that takes commands (selector ${hex})`;
  if (t.kind === 'group') return `group ${t.name} (selector ${hex})`;
  if (t.kind === 'set') return t.members!.map(describe).join(' + ');
  return `node ${t.name} (selector ${hex})`;
}
