// The roles the fleet gives a meaning to. Any other role is a node that takes commands.
export const HUB_ROLE = 'cloud-relay';
export const AUTHORITY_ROLE = 'os-network-admin';

/** A node that interprets commands: everyone but the hub and the authority. */
export function takesCommands(role: string): boolean {
  return role !== HUB_ROLE && role !== AUTHORITY_ROLE;
}

/** The groups a new authority starts with: every os-infrastructure node is in 'edge' (group 1). */
export const DEFAULT_GROUPS = [{ id: 1, name: 'edge', aliases: ['edge nodes', 'edge group', 'infrastructure nodes', 'infra nodes'] }];
