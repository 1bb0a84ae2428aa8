// The fleet the router aims at: nodes and groups with the names people use for them. Today the
// demo fleet of the design; the pairing registry will hand the router a snapshot of the same shape
// (rebuild the router when the registry changes: building one takes milliseconds).
import { ALL_NODES, groupSelector, nodeSelector } from '../../core/protocol/target.js';

export interface FleetNode {
  /** Node id: the host octet of its mesh address. */
  id: number;
  name: string;
  aliases: string[];
  /** Mesh address, 10.8.0.<id>. */
  address: string;
  role: string;
  /** Ids of the groups it belongs to. */
  groups: number[];
  /** False for the hub (it interprets nothing) and the authority (it commands, it is not commanded). */
  takesCommands: boolean;
}

export interface FleetGroup {
  id: number;
  name: string;
  aliases: string[];
}

export interface Fleet {
  nodes: FleetNode[];
  groups: FleetGroup[];
}

/** A resolved target: what the draft names and the selector that goes into the packet. */
export interface TargetRef {
  kind: 'node' | 'group' | 'all';
  name: string;
  selector: number;
  /** The nodes it reaches. */
  nodeIds: number[];
}

export const ALL_TARGET = 'all';

export function demoFleet(): Fleet {
  return {
    nodes: [
      { id: 1, name: 'cloud-relay', aliases: ['relay', 'hub', 'cloud relay', 'the cloud'], address: '10.8.0.1', role: 'cloud-relay', groups: [], takesCommands: false },
      { id: 2, name: 'onprem', aliases: ['on-premises', 'on-prem', 'on premises', 'on prem'], address: '10.8.0.2', role: 'os-infrastructure', groups: [1], takesCommands: true },
      { id: 3, name: 'leased', aliases: ['leased node', 'leased server'], address: '10.8.0.3', role: 'os-infrastructure', groups: [1], takesCommands: true },
      { id: 10, name: 'admin', aliases: ['authority', 'control plane', 'admin node'], address: '10.8.0.10', role: 'os-network-admin', groups: [], takesCommands: false },
    ],
    groups: [{ id: 1, name: 'edge', aliases: ['edge nodes', 'edge group', 'infrastructure nodes', 'infra nodes', 'os-infrastructure'] }],
  };
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

/** Every name a command may be aimed at: nodes that take commands, groups, and 'all'. */
export function commandTargets(fleet: Fleet): TargetRef[] {
  return [
    ...fleet.nodes.filter((n) => n.takesCommands).map(nodeTarget),
    ...fleet.groups.map((g) => groupTarget(fleet, g)),
    allTarget(fleet),
  ];
}
