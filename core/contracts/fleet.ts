// The fleet as stages see it: nodes and groups with the names people use for them. The registry
// produces it, the router aims at it, the signer resolves targets in it.

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

/** The target name that means every node taking commands. */
export const ALL_TARGET = 'all';
