// The services a stage may ask for, each a typed token: `ctx.services.get(MESH)` is a Mesh. The
// interfaces say what a stage may use (the consumer's side); core/node/services.ts implements
// them. A stage names the tokens it uses in its definition's `services`.
import type { Logger } from 'pino';
import type { Fleet, FleetGroup } from '../contracts/fleet.js';
import type { GenesisEvent } from '../contracts/genesis-event.js';
import type { MeshPeer } from '../mesh/peer.js';
import type { Membership } from '../membership/membership.js';
import type { MembershipChange, MembershipSource, MembershipStore } from '../membership/membership-store.js';
import type { AckWindowStore } from '../protocol/ack-windows.js';
import type { AuthorityCounter } from '../protocol/authority-counter.js';
import type { NodeEpochKeys } from '../protocol/epoch-keys.js';
import type { CommandRecord, IdentityChangeOutcome, KeyRetiredOutcome, RegistryEvent, RegistryNode, TargetStatus } from '../registry/registry.js';
import type { ReportFreshness } from '../protocol/report.js';
import type { ReportFacts } from '../protocol/report-facts.js';
import { HOST_SERVICE, serviceToken } from '../runtime/define-stage.js';
import type { HostStatus, ReloadResult } from '../runtime/host.js';

export type { CommandRecord, IdentityChangeOutcome, KeyRetiredOutcome, Membership, MembershipChange, MembershipSource, MembershipStore, MeshPeer, RegistryEvent, RegistryNode, TargetStatus };

export interface Clock {
  now(): number;
}
export const CLOCK = serviceToken<Clock>('clock');

/** Who this node is: its keys (in memory only) and what it knows of the mesh. */
export interface NodeIdentity {
  readonly instanceDir: string;
  /** X25519 secret: the WireGuard key, also the node's side of the command keys. */
  readonly secret: Buffer;
  readonly publicKey: string;
  /**
   * Which pair (this node's secret, the authority's command public key) each key epoch derives
   * from: the verifier and the ack, report and key-retired signers all take their keys here, so
   * a key change (bind the epoch moved to, keep the one left) reaches them at once.
   */
  readonly keys: NodeEpochKeys;
  /** The authority's command secret; only on the admin. */
  readonly commandSecret?: Buffer;
  /** The current membership: `membershipStore.current`, the same object, kept current in place. */
  readonly membership: Membership;
  /** Membership's one store: change it with `apply`, follow it with `changes$`. */
  readonly membershipStore: MembershipStore;
  /** A file of the instance directory. */
  path(name: string): string;
  /** A JSON file of the instance directory, or undefined when there is none. */
  readJson(name: string): unknown;
  /** Replaces a JSON file of the instance directory atomically (0600). */
  writeJson(name: string, value: unknown): void;
}
export const NODE = serviceToken<NodeIdentity>('node');

export interface MeshEndpoint {
  address: string;
  port: number;
}

export interface MeshSocket {
  readonly port: number;
  /** False when nothing routes `address` (no peer for it in userspace mode). */
  send(address: string, port: number, payload: Uint8Array): boolean;
  close(): void;
}

/** ppn0: UDP sockets on the node's mesh address, and its peer set. */
export interface Mesh {
  readonly mode: 'userspace' | 'os';
  readonly address: string;
  /** A UDP socket on the mesh address; port 0 picks a free one. Throws if the port is taken. */
  bind(port: number, onMessage: (payload: Buffer, from: MeshEndpoint) => void): Promise<MeshSocket>;
  /** New peers added, gone ones removed, the others untouched. */
  setPeers(peers: readonly MeshPeer[]): void;
  /** Resolves when a WireGuard session with the peer at `address` is up (at once in OS mode). */
  whenConnected(address: string, timeoutMs: number): Promise<void>;
  status(): Record<string, unknown>;
}
export const MESH = serviceToken<Mesh>('mesh');

/** The admin's pairing registry and command log. */
export interface Registry {
  fleet(): Fleet;
  node(id: number): RegistryNode | undefined;
  nodes(): RegistryNode[];
  /** Records that an authenticated message came from the node. */
  touch(id: number): void;
  /** Runs `fn` as one write transaction (one commit for all its writes); change events follow the commit. */
  batch<T>(fn: () => T): T;
  onChange(listener: (event: RegistryEvent) => void): () => void;
  upsertGroup(group: FleetGroup, actor: string): void;
  recordCommand(command: Omit<CommandRecord, 'targets'> & { targets: Omit<CommandRecord['targets'][number], 'status' | 'detail'>[] }): void;
  /** Sets a target's status; false when no such command target is known. */
  markTarget(epoch: number, counter: string, nodeId: number, status: TargetStatus, detail?: string): boolean;
  command(id: string): CommandRecord | undefined;
  commands(limit: number): CommandRecord[];
  /** The next page after `commands`: those recorded before command `id`, newest first; undefined if there is no command `id`. */
  commandsBefore(id: string, limit: number): CommandRecord[] | undefined;
  /** The id the next command of `epoch` is recorded under (c<epoch>-<n>, a sequence: counters jump after restarts). */
  nextCommandId(epoch: number): string;
  /** One row of the audit log (the signer records refused drafts there). */
  audit(actor: string, action: string, detail: Record<string, unknown>): void;
  /** The authority's command counter, reserved in blocks in the registry's database. */
  authorityCounter(options: { blockSize: number }): AuthorityCounter;
  /** The authority's ack replay windows, in the registry's database (createAckVerifier's `windows`). */
  ackWindows(): AckWindowStore;
  /** The fleet's command-key epoch once moved; before that the authority's membership says. */
  keyEpoch(): number | undefined;
  /** A node's verified key-retired report: recorded and the fleet moved on when it names `currentEpoch`. */
  keyRetired(report: { nodeId: number; epoch: number; failedTags: number }, currentEpoch: number): KeyRetiredOutcome;
  /** A node's verified identity-change request: its new key recorded and the node moved to the next epoch (registry.ts says when). */
  changeIdentity(change: { nodeId: number; epoch: number; publicKey: string }, currentEpoch: number, overlapMs: number): IdentityChangeOutcome;
  /** The public key a node's messages of `epoch` are verified with (its old key in that epoch's overlap); undefined when not active. */
  publicKeyFor(nodeId: number, epoch: number): string | undefined;
  /** A node's verified telemetry report: kept as its latest (and the node touched) when fresh. */
  recordReport(report: { nodeId: number; seq: number; facts: ReportFacts }, maxSkewMs: number): ReportFreshness;
}
export const REGISTRY = serviceToken<Registry>('registry');

/** The stage's own node's controls. */
export interface HostControl {
  reload(): Promise<ReloadResult>;
  /** Rebuilds the named stages from their current config. */
  restart(stageIds: string[]): Promise<ReloadResult>;
  setLogLevel(level: string): void;
  status(): HostStatus;
}
export const HOST = serviceToken<HostControl>(HOST_SERVICE);

/** What a stage built on a long-running part of core gives it: how to stop it, what to show. */
export interface Running {
  close(): Promise<void>;
  status(): Record<string, unknown>;
}

/** Hooks through which core machinery reports to the stage that runs it. */
export interface StageHooks {
  logger: Logger;
  count(what: string): void;
}

export interface GenesisAuthorityOptions {
  host?: string;
  port?: number;
  advertise?: string;
  admission: 'approve' | 'auto';
  maxPending: number;
  freshnessSeconds: number;
  groupsByRole: Record<string, number[]>;
  beacon: { enabled: boolean; broadcast?: string; port: number; everyMs: number };
  sync: { everyMs: number; pollMs: number };
}

/** The authority's side of the Genesis protocol (core/genesis). */
export interface Genesis {
  /** The join endpoint, the beacon and the membership updates, until closed. */
  startAuthority(options: GenesisAuthorityOptions, hooks: StageHooks & { onEvent(event: GenesisEvent): void }): Promise<Running>;
  /** Answers F8's node routes (approve, revoke, rename), or undefined when `method path` is none of them. */
  nodeRoute(method: string, path: string, readBody: () => Promise<unknown>): Promise<{ status: number; body: unknown } | undefined>;
  /** The join code of each pending node that asked to join, by node id (shown on both screens; not a secret). */
  joinCodes(): Map<number, string>;
}
export const GENESIS = serviceToken<Genesis>('genesis');

/** A node's side of membership updates (core/genesis/sync). */
export interface MembershipUpdates {
  /** Takes the authority's signed updates on the mesh `port` and applies them, until closed. */
  listen(port: number, hooks: StageHooks & { logPerMinute: number }): Promise<Running>;
}
export const MEMBERSHIP_UPDATES = serviceToken<MembershipUpdates>('membership-updates');
