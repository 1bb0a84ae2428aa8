// What a node keeps of its authority before and after it joins, in its instance directory:
// authority.json, the pinned identity (public keys only: its genesis key signs beacons, claims
// and membership updates; its command key is the other half of every derived key), and
// genesis-state.json, the newest beacon and membership update accepted, so that neither can be
// replayed after a restart. The one-time enrolment token, if the bundle had one, waits in
// enrolment.token (0600) and is deleted once the node is in.
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NODE_ADDRESS_PATTERN, NODE_ID_SCHEMA } from '../fleet/addresses.js';
import { KEY_PATTERN } from '../keys/index.js';
import { ensureInstanceDir, readJson, writeJsonAtomic } from '../membership/instance-files.js';
import { ENDPOINT_PATTERN } from '../underlay/endpoint.js';
import { checkSchema, formatProblems } from '../runtime/schema-check.js';

export const AUTHORITY_FILE = 'authority.json';
export const GENESIS_STATE_FILE = 'genesis-state.json';
export const TOKEN_FILE = 'enrolment.token';

export interface PinnedAuthority {
  /** Ed25519, base64. */
  genesisKey: string;
  /** X25519, base64. */
  commandPublicKey: string;
  nodeId: number;
  address: string;
}

const KEY = { type: 'string', pattern: KEY_PATTERN };
export const pinnedAuthoritySchema = {
  type: 'object',
  required: ['genesisKey', 'commandPublicKey', 'nodeId', 'address'],
  additionalProperties: false,
  properties: {
    genesisKey: KEY,
    commandPublicKey: KEY,
    nodeId: NODE_ID_SCHEMA,
    address: { type: 'string', pattern: NODE_ADDRESS_PATTERN },
  },
};

/** The pinned authority, or undefined when none is pinned yet. */
export function loadPinnedAuthority(instanceDir: string): PinnedAuthority | undefined {
  const path = join(instanceDir, AUTHORITY_FILE);
  if (!existsSync(path)) return undefined;
  const data = readJson(path);
  const problems = checkSchema(pinnedAuthoritySchema, data);
  if (problems.length) throw new Error(`${path}: ${formatProblems(problems)}`);
  return data as PinnedAuthority;
}

export function samePin(a: PinnedAuthority, b: PinnedAuthority): boolean {
  return a.genesisKey === b.genesisKey && a.commandPublicKey === b.commandPublicKey && a.nodeId === b.nodeId && a.address === b.address;
}

/** Pins `authority`; a node already pinned to another authority keeps it (re-provision a fresh instance instead). */
export function pinAuthority(instanceDir: string, authority: PinnedAuthority): void {
  const current = loadPinnedAuthority(instanceDir);
  if (current && !samePin(current, authority)) {
    throw new Error(`${join(instanceDir, AUTHORITY_FILE)} already pins another authority (genesis key ${current.genesisKey}); use a fresh instance directory to change authority`);
  }
  if (!current) writeJsonAtomic(join(instanceDir, AUTHORITY_FILE), authority, 0o644);
}

export interface GenesisState {
  lastBeaconAt: number;
  syncSeq: number;
  /** The authority's join endpoint as the provisioning bundle named it (IPv4:port). */
  joinEndpoint?: string;
}

export function loadGenesisState(instanceDir: string): GenesisState {
  const path = join(instanceDir, GENESIS_STATE_FILE);
  const data = existsSync(path) ? (readJson(path) as Partial<GenesisState>) : {};
  const joinEndpoint = typeof data.joinEndpoint === 'string' && new RegExp(ENDPOINT_PATTERN).test(data.joinEndpoint) ? data.joinEndpoint : undefined;
  return { lastBeaconAt: Number(data.lastBeaconAt) || 0, syncSeq: Number(data.syncSeq) || 0, ...(joinEndpoint && { joinEndpoint }) };
}

export function saveGenesisState(instanceDir: string, change: Partial<GenesisState>): void {
  writeJsonAtomic(join(instanceDir, GENESIS_STATE_FILE), { ...loadGenesisState(instanceDir), ...change }, 0o644);
}

export function saveEnrolmentToken(instanceDir: string, token: string): void {
  ensureInstanceDir(instanceDir);
  // mode applies only to a new file: an older, looser one is closed up first.
  const path = join(instanceDir, TOKEN_FILE);
  if (existsSync(path)) chmodSync(path, 0o600);
  writeFileSync(path, `${token}\n`, { mode: 0o600 });
}

export function loadEnrolmentToken(instanceDir: string): string | undefined {
  const path = join(instanceDir, TOKEN_FILE);
  return existsSync(path) ? readFileSync(path, 'utf8').trim() : undefined;
}

export function dropEnrolmentToken(instanceDir: string): void {
  rmSync(join(instanceDir, TOKEN_FILE), { force: true });
}
