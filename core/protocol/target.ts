// Target selectors (bytes 3–4): one node, one group, or every node; every other value is reserved.

export const ALL_NODES = 0xffff;
const GROUP_BASE = 0x0100;

export type TargetKind = 'node' | 'group' | 'all' | 'reserved';

export function targetKind(selector: number): TargetKind {
  if (selector >= 0x0001 && selector <= 0x00fe) return 'node';
  if (selector >= GROUP_BASE && selector <= 0x01ff) return 'group';
  if (selector === ALL_NODES) return 'all';
  return 'reserved';
}

export function nodeSelector(nodeId: number): number {
  if (!Number.isInteger(nodeId) || nodeId < 1 || nodeId > 254) throw new RangeError(`node id must be in 1..254, got ${nodeId}`);
  return nodeId;
}

export function groupSelector(groupId: number): number {
  if (!Number.isInteger(groupId) || groupId < 0 || groupId > 255) throw new RangeError(`group id must be in 0..255, got ${groupId}`);
  return GROUP_BASE | groupId;
}

/** Whether a non-reserved selector names this node. */
export function targetMatches(selector: number, nodeId: number, groups: ReadonlySet<number>): boolean {
  if (selector === ALL_NODES) return true;
  if (selector >= GROUP_BASE) return groups.has(selector & 0xff);
  return selector === nodeId;
}
