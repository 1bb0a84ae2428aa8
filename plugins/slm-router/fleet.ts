// The targets a router can aim at in a fleet (core/contracts' Fleet: the registry's snapshot, or
// the demo fleet): rebuild the router when the fleet changes, building one takes milliseconds.
import { ALL_NODES, ALL_TARGET, groupSelector, nodeSelector, type Fleet, type FleetGroup, type FleetNode } from '../../core/sdk/index.js';

/** A resolved target: what the draft names and the selector that goes into the packet. */
export interface TargetRef {
  kind: 'node' | 'group' | 'all' | 'set';
  name: string;
  /** For a set, its first member's (each member keeps its own: `members`). */
  selector: number;
  /** The nodes it reaches. */
  nodeIds: number[];
  /** For a set: the nodes and groups it is made of. */
  members?: TargetRef[];
}

/** Problems that would make targets ambiguous or selectors wrong; none means the fleet is usable. */
export function validateFleet(fleet: Fleet): string[] {
  const problems: string[] = [];
  const names = new Map<string, string>();
  const claim = (word: string, owner: string) => {
    const key = word.toLowerCase();
    const other = names.get(key);
    if (other && other !== owner) problems.push(`'${word}' names both ${other} and ${owner}`);
    names.set(key, owner);
  };
  const ids = new Set<number>();
  const groupIds = new Set(fleet.groups.map((g) => g.id));
  claim(ALL_TARGET, 'every node');
  for (const n of fleet.nodes) {
    if (!Number.isInteger(n.id) || n.id < 1 || n.id > 254) problems.push(`node ${n.name}: id ${n.id} is not in 1..254`);
    if (ids.has(n.id)) problems.push(`node ${n.name}: id ${n.id} is used twice`);
    ids.add(n.id);
    if (n.address.split('.').at(-1) !== String(n.id)) problems.push(`node ${n.name}: address ${n.address} does not end in its id ${n.id}`);
    for (const g of n.groups) if (!groupIds.has(g)) problems.push(`node ${n.name}: unknown group id ${g}`);
    for (const w of [n.name, ...n.aliases, n.address]) claim(w, `node ${n.name}`);
  }
  for (const g of fleet.groups) {
    if (!Number.isInteger(g.id) || g.id < 0 || g.id > 255) problems.push(`group ${g.name}: id ${g.id} is not in 0..255`);
    for (const w of [g.name, ...g.aliases]) claim(w, `group ${g.name}`);
  }
  return problems;
}

export function nodeTarget(node: FleetNode): TargetRef {
  return { kind: 'node', name: node.name, selector: nodeSelector(node.id), nodeIds: [node.id] };
}

export function groupTarget(fleet: Fleet, group: FleetGroup): TargetRef {
  const nodeIds = fleet.nodes.filter((n) => n.groups.includes(group.id)).map((n) => n.id);
  return { kind: 'group', name: group.name, selector: groupSelector(group.id), nodeIds };
}

export function allTarget(fleet: Fleet): TargetRef {
  return { kind: 'all', name: ALL_TARGET, selector: ALL_NODES, nodeIds: fleet.nodes.filter((n) => n.takesCommands).map((n) => n.id) };
}

/**
 * The target that reaches exactly `nodeIds`: a group or everyone when one is exactly that (groups
 * stay groups), the node when there is one, else the set of those nodes; undefined for none.
 */
export function targetOf(fleet: Fleet, nodeIds: readonly number[]): TargetRef | undefined {
  const wanted = new Set(nodeIds);
  if (wanted.size === 0) return undefined;
  const same = (t: TargetRef) => t.nodeIds.length === wanted.size && t.nodeIds.every((id) => wanted.has(id));
  const cover = [...fleet.groups.map((g) => groupTarget(fleet, g)), allTarget(fleet)].find(same);
  if (cover) return cover;
  const nodes = fleet.nodes.filter((n) => wanted.has(n.id)).map(nodeTarget);
  return nodes.length === 1 ? nodes[0] : setTarget(nodes);
}

export function setTarget(members: TargetRef[]): TargetRef {
  return { kind: 'set', name: members.map((m) => m.name).join(', '), selector: members[0].selector, nodeIds: [...new Set(members.flatMap((m) => m.nodeIds))], members };
}

/** Every name a command may be aimed at: nodes that take commands, groups, and 'all'. */
export function commandTargets(fleet: Fleet): TargetRef[] {
  return [
    ...fleet.nodes.filter((n) => n.takesCommands).map(nodeTarget),
    ...fleet.groups.map((g) => groupTarget(fleet, g)),
    allTarget(fleet),
  ];
}
