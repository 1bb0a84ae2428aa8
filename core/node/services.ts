// The services a node's host provides to its stages: the implementations of the interfaces
// core/sdk/services.ts declares (the stages' side). Stages name the ones they use in their
// definition's `services`; a pipeline file configures them under `services` (and `mesh`).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bindReplacedCommandKey, loadGenesisState, loadPinnedAuthority, pinAfterHandover, pinnedGenesisCheck, saveGenesisState, savePinnedAuthority } from '../genesis/authority-pin.js';
import { checkHandover, HANDOVER_KIND } from '../genesis/handover.js';
import { liveGenesisKey, retireEndedKeys } from '../genesis/authority-keys.js';
import { authorityCommandKeys, switchIfDue } from '../registry/authority-command-keys.js';
import { directedBroadcast, startBeaconSender } from '../genesis/beacon-sender.js';
import { startJoinServer } from '../genesis/join-server.js';
import { nodeRoute } from '../genesis/node-routes.js';
import { AUTHORITY_ID_META, JOIN_ENDPOINT_META, openPairing, type Pairing } from '../genesis/pairing.js';
import { loadGenesisKey } from '../genesis/signing-key.js';
import { createUpdateAssembler } from '../genesis/sync.js';
import { startSyncPusher } from '../genesis/sync-pusher.js';
import { bindAddressFor } from '../mesh/bind-address.js';
import { createMesh, type Mesh } from '../mesh/mesh.js';
import { registerCommandSeries, registerMeshSeries } from './service-series.js';
import { guardDirection } from './direction-guard.js';
import { formatKey, parseKey, publicKeyOf } from '../keys/index.js';
import { openRegistry, type Registry } from '../registry/registry.js';
import { defineService, type ServiceDefinition, type ServiceToken } from '../runtime/define-stage.js';
import { logSampler } from '../log-sampler.js';
import * as sdk from '../sdk/services.js';
import { CLOCK, GENESIS, MEMBERSHIP_UPDATES, NODE, type Clock, type Genesis, type MembershipUpdates, type NodeIdentity } from '../sdk/services.js';
import { formatEndpoint, parseEndpoint } from '../underlay/endpoint.js';
import { ensureInstanceDir, loadSecret, readJson, writeJsonAtomic } from '../membership/instance-files.js';
import { loadMembership } from '../membership/membership.js';
import { createMembershipStore } from '../membership/membership-store.js';
import { openIdentityKeys, type IdentityKeys } from './identity-keys.js';
import { startIdentityRotation, type IdentityRotation } from './identity-rotation.js';
import { nextEpoch } from '../protocol/key-epochs.js';

export type { NodeIdentity };

const NO_CONFIG = { type: 'object', additionalProperties: false } as const;

/**
 * The token of a service as core sees it: the whole implementation, which must be (checked here,
 * at compile time) at least what the SDK promises stages.
 */
function implementation<Core extends Sdk, Sdk>(token: ServiceToken<Sdk>): ServiceToken<Core> {
  return token as ServiceToken<Core>;
}
const MESH = implementation<Mesh, sdk.Mesh>(sdk.MESH);
const REGISTRY = implementation<Registry, sdk.Registry>(sdk.REGISTRY);

export const clockService = defineService<Record<string, never>, Clock>({
  name: CLOCK,
  configSchema: { type: 'object', additionalProperties: false },
  create: () => ({ now: () => Date.now() }),
});

/** Changing the node's identity key (identity-rotation.ts): how often the request is repeated, how long the replaced key lasts. */
export interface IdentityConfig {
  resendMs: number;
  overlapMs: number;
}

/** The node service as core sees it: also the identity key's change under way (identity-keys.ts). */
export interface CoreNodeIdentity extends NodeIdentity {
  readonly identity: IdentityKeys;
  readonly identityConfig: IdentityConfig;
}
const CORE_NODE = implementation<CoreNodeIdentity, NodeIdentity>(NODE);

export const nodeService = defineService<{ authority: boolean; identity: IdentityConfig }, CoreNodeIdentity>({
  name: NODE,
  configSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      authority: { type: 'boolean', default: false, description: 'this node signs commands (keeps command.key)' },
      identity: {
        type: 'object',
        additionalProperties: false,
        default: {},
        description: 'changing the identity key (ppn keys rotate-identity)',
        properties: {
          resendMs: { type: 'integer', minimum: 100, default: 2000, description: 'how often the request goes to the authority again until it confirms' },
          overlapMs: { type: 'integer', minimum: 0, default: 60_000, description: 'how long the replaced key is still answered and bound to the epoch left' },
        },
      },
    },
  },
  create(ctx, config) {
    ensureInstanceDir(ctx.instanceDir);
    const commandSecret = config.authority ? loadSecret(ctx.instanceDir, 'command.key', true) : undefined;
    const membershipStore = createMembershipStore(ctx.instanceDir, loadMembership(ctx.instanceDir));
    const identity = openIdentityKeys(ctx.instanceDir, {
      authorityPublic: parseKey(membershipStore.current.authority.commandPublicKey),
      confirmedKey: membershipStore.current.publicKey,
      overlapMs: config.identity.overlapMs,
    });
    const { keys } = identity;
    // Within an authority command-key hand-over's overlap, the epoch left is on the replaced key.
    bindReplacedCommandKey(keys, loadPinnedAuthority(ctx.instanceDir), Date.now());
    return {
      instanceDir: ctx.instanceDir,
      // The identity key in force: a confirmed change replaces it live.
      get secret() {
        return identity.secret;
      },
      get publicKey() {
        return identity.publicKey;
      },
      identity,
      identityConfig: config.identity,
      keys,
      commandSecret,
      membership: membershipStore.current,
      membershipStore,
      path: (name) => join(ctx.instanceDir, name),
      readJson: (name) => (existsSync(join(ctx.instanceDir, name)) ? readJson(join(ctx.instanceDir, name)) : undefined),
      writeJson: (name, value) => writeJsonAtomic(join(ctx.instanceDir, name), value),
    };
  },
  status: ({ membership: m }) => ({
    name: m.name, nodeId: m.nodeId, role: m.role, address: m.address, listen: m.listen, epoch: m.epoch,
    // The mesh's peers are keys; names and addresses are membership's.
    peerNames: Object.fromEntries(m.peers.map((p) => [p.publicKey, { name: p.name, address: p.address, ...(p.via && { via: p.via }) }])),
  }),
});

export interface MeshConfig {
  mode: 'userspace' | 'os';
  bindAddress?: string;
  forwarding: boolean;
  relay: boolean;
}

/** Each mesh's identity-key change, stopped when the mesh closes. */
const identityRotationOf = new WeakMap<Mesh, IdentityRotation>();

export const meshService = defineService<MeshConfig, Mesh>({
  name: MESH,
  services: [NODE],
  section: { key: 'mesh', description: 'Transport settings; changing them restarts the transport' },
  configSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      mode: { enum: ['userspace', 'os'], default: 'userspace' },
      bindAddress: { type: 'string', format: 'ipv4', description: "underlay address to bind; default: the host part of membership's listen if this machine has it, else 0.0.0.0" },
      forwarding: {
        type: 'boolean',
        default: false,
        description: 'userspace: route packets between peers by AllowedIPs (a hub serving stock WireGuard peers; it can read that traffic)',
      },
      relay: {
        type: 'boolean',
        default: false,
        description: "userspace: pass relay frames on between spokes (a hub; it carries only ciphertext of the spokes' own sessions)",
      },
    },
  },
  async create(ctx, config, deps) {
    const node = deps.get(CORE_NODE);
    const [listenHost, listenPort] = node.membership.listen.split(':');
    const mesh = await createMesh({
      mode: config.mode,
      address: node.membership.address,
      privateKey: node.secret,
      listenPort: Number(listenPort),
      bindAddress: config.bindAddress ?? bindAddressFor(listenHost),
      peers: node.membership.peers,
      logger: ctx.logger,
      forwarding: config.forwarding,
      relay: config.relay,
      // Userspace: each peer's path owned (docs/nat.md); the hub (relay) serves the lighthouse.
      ...(config.mode === 'userspace' && { paths: {} }),
    });
    // The diode below the stages: down, up and sideways only as the Diode Standard says (direction-guard.ts).
    const guarded = guardDirection(mesh, { isAuthority: () => node.commandSecret !== undefined, authorityAddress: () => node.membership.authority.address }, ctx.logger);
    registerMeshSeries(ctx.metrics, guarded);
    // The identity key's change (ppn keys rotate-identity): the request goes through the diode.
    const identityEvents = ctx.metrics.counter('ppn_identity_events_total', "The node's identity key changes: begun, requests sent, confirmed, overlap ended", ['event']);
    identityRotationOf.set(guarded, await startIdentityRotation({
      identity: node.identity, membershipStore: node.membershipStore, mesh: guarded, device: mesh.device,
      isAuthority: node.commandSecret !== undefined, ...node.identityConfig, logger: ctx.logger, count: (event) => identityEvents.inc({ event }),
    }));
    const direction = () => guarded.status().direction as { refusedSends: Record<string, number>; refusedReceives: Record<string, number> };
    ctx.metrics.collect('counter', 'ppn_diode_refused_sends_total', 'Sends the mesh refused: to a command port (not the authority, or to the authority), or to another node off the sync port', ['reason'], () =>
      Object.entries(direction().refusedSends).map(([reason, n]) => [{ reason }, n]),
    );
    ctx.metrics.collect('counter', 'ppn_diode_dropped_receives_total', "Datagrams dropped on arrival: from another node off the sync port, or to the authority's command port", ['reason'], () =>
      Object.entries(direction().refusedReceives).map(([reason, n]) => [{ reason }, n]),
    );
    return guarded;
  },
  close: (mesh) => {
    identityRotationOf.get(mesh)?.close();
    return mesh.close();
  },
  status: (mesh) => ({ ...mesh.status(), identity: identityRotationOf.get(mesh)?.status() }),
  actions: (mesh) => ({ 'rotate-identity': () => identityRotationOf.get(mesh)!.rotate(), identity: () => identityRotationOf.get(mesh)!.status() }),
});

/** Stops a registry's command series (their listener and timers) when it closes. */
const commandSeriesOf = new WeakMap<Registry, () => void>();

/** What `ppn status` shows of the registry: nodes by status, the last command. */
function registryStatus(registry: Registry): Record<string, unknown> {
  const nodes: Record<string, number> = { active: 0, pending: 0, revoked: 0 };
  for (const n of registry.nodes()) nodes[n.status] = (nodes[n.status] ?? 0) + 1;
  const [last] = registry.commands(1);
  return { nodes, ...(last && { lastCommand: { id: last.id, at: last.at, intent: last.intent, target: last.target } }) };
}

export const registryService = defineService<{ file: string }, Registry>({
  name: REGISTRY,
  configSchema: {
    type: 'object',
    additionalProperties: false,
    properties: { file: { type: 'string', default: 'admin.db', description: 'SQLite file, relative to the instance directory' } },
  },
  create(ctx, config) {
    ensureInstanceDir(ctx.instanceDir);
    const registry = openRegistry(join(ctx.instanceDir, config.file));
    commandSeriesOf.set(registry, registerCommandSeries(ctx.metrics, registry));
    return registry;
  },
  close(registry) {
    commandSeriesOf.get(registry)?.();
    registry.close();
  },
  status: (registry) => registryStatus(registry),
});

/** The authority's genesis: join endpoint, beacon, membership updates (core/genesis). */
export const genesisService = defineService<Record<string, never>, Genesis>({
  name: GENESIS,
  services: [NODE, REGISTRY, MESH],
  configSchema: NO_CONFIG,
  create(_ctx, _config, deps) {
    const node = deps.get(NODE);
    const registry = deps.get(REGISTRY);
    const mesh = deps.get(MESH);
    let pairing: Pairing | undefined;
    return {
      async startAuthority(config, hooks) {
        if (!node.commandSecret) throw new Error("genesis needs the authority's command key: set services.node.authority = true");
        const { membership } = node;
        const { logger, count } = hooks;
        loadGenesisKey(node.instanceDir, true);
        // The command key the admin signs with: the old one until a hand-over's switch (core/registry/authority-command-keys.ts).
        const commandKeys = authorityCommandKeys(node.instanceDir, registry, node.commandSecret, () => node.membership.epoch);
        const handovers = commandKeys.log;
        const key = liveGenesisKey(node.instanceDir, handovers);
        const pairing = openPairing(registry);
        pairing.setMeta(AUTHORITY_ID_META, String(membership.nodeId));
        const authority = { nodeId: membership.nodeId, commandPublicKey: commandKeys.signingPublic(), epoch: membership.epoch };
        const listen = parseEndpoint(membership.listen, 'membership listen');
        const host = config.host ?? listen.host;

        const sync = await startSyncPusher({
          registry, pairing, mesh, key, authority, self: node.membershipStore, handovers,
          everyMs: config.sync.everyMs, pollMs: config.sync.pollMs, count, logger,
        });
        // A command-key hand-over's switch once it is due: every node to its next epoch under the
        // new key. The keys a hand-over replaced are deleted once its overlap is over (authority-keys.ts).
        const retiring = setInterval(() => {
          const switched = switchIfDue(commandKeys, registry, { authorityId: authority.nodeId, authorityEpoch: authority.epoch, now: Date.now() });
          if (switched !== undefined) {
            authority.commandPublicKey = commandKeys.signingPublic();
            logger.warn({ handover: switched, commandPublicKey: authority.commandPublicKey }, 'command key switched: every node moves to its next epoch under the new key');
            sync.refresh();
          }
          const retired = retireEndedKeys(node.instanceDir, handovers, Date.now());
          if (retired.length) logger.warn({ handovers: retired }, 'overlap over: the replaced authority keys are deleted');
        }, 250);
        const closers: (() => Promise<void>)[] = [sync.close, async () => clearInterval(retiring)];
        const closeAll = async () => {
          for (const close of closers) await close();
        };
        try {
          const server = await startJoinServer({
            host, port: config.port ?? listen.port, commandSecret: commandKeys.signing, pairing, authority,
            policy: { auto: config.admission === 'auto', maxPending: config.maxPending, groupsByRole: config.groupsByRole },
            freshnessMs: config.freshnessSeconds * 1000,
            now: Date.now,
            beforeGrant: sync.refresh,
            syncSeq: sync.seq,
            logger,
            onEvent: hooks.onEvent,
            count,
          });
          closers.unshift(server.close);
          const joinEndpoint = config.advertise ? parseEndpoint(config.advertise, 'advertise') : { host, port: server.port };
          if (joinEndpoint.host === '0.0.0.0') throw new Error("genesis listens on 0.0.0.0: set 'advertise' to the address nodes reach it at");
          pairing.setMeta(JOIN_ENDPOINT_META, formatEndpoint(joinEndpoint));
          logger.info({ joinEndpoint: formatEndpoint(joinEndpoint), admission: config.admission, genesisKey: key.publicText }, 'join endpoint listening');
          if (config.beacon.enabled) {
            const beacon = await startBeaconSender({
              key, bindHost: host, joinEndpoint, port: config.beacon.port, everyMs: config.beacon.everyMs,
              broadcast: config.beacon.broadcast ?? directedBroadcast(host) ?? '255.255.255.255',
              now: Date.now, count, logger,
            });
            closers.unshift(beacon.close);
          }
        } catch (err) {
          await closeAll();
          throw err;
        }
        return {
          close: closeAll,
          status: () => ({ joinEndpoint: pairing.getMeta(JOIN_ENDPOINT_META), admission: config.admission, sync: sync.status() }),
        };
      },
      nodeRoute: (method, path, readBody) => nodeRoute(method, path, registry, readBody),
      joinCodes() {
        pairing ??= openPairing(registry);
        return new Map(pairing.list().flatMap((n) => (n.code ? [[n.id, n.code] as const] : [])));
      },
    };
  },
});

/**
 * A node's side of membership updates: only from the authority's mesh address, only signed with
 * the pinned genesis key, only newer than the last one taken. Peers change at once; a new name or
 * new groups are saved and take effect when the stages that use them are next built.
 */
export const membershipUpdatesService = defineService<Record<string, never>, MembershipUpdates>({
  name: MEMBERSHIP_UPDATES,
  services: [MESH, NODE],
  configSchema: NO_CONFIG,
  create(_ctx, _config, deps) {
    const mesh = deps.get(MESH);
    const node = deps.get(NODE);
    return {
      async listen(port, { logger, count, logPerMinute }) {
        const { membership } = node;
        let pinned = loadPinnedAuthority(node.instanceDir);
        if (!pinned) logger.warn(`no authority pinned (authority.json): membership updates are refused until the node joins with \`ppn join\``);
        const sampler = logSampler(logPerMinute);
        const refuse = (reason: string, from: unknown, detail?: string) => {
          count(`refused.${reason}`);
          if (sampler.allow(reason)) logger.warn({ reason, from, detail }, 'membership update refused');
        };
        // Updates come in numbered parts, applied whole (core/genesis/sync.ts).
        const checker = pinned && createUpdateAssembler({
          check: pinnedGenesisCheck(() => pinned!), nodeId: membership.nodeId, lastSeq: loadGenesisState(node.instanceDir).syncSeq,
          onDiscard: (why, seq, missing) => {
            count(`discarded.${why}`);
            if (sampler.allow(why)) logger.warn({ why, seq, missing }, 'unfinished membership update dropped');
          },
        });

        // An authority key hand-over (core/genesis/handover.ts): checked under the pin, then the
        // pin moves to the new key(s), the replaced ones kept for its overlap (authority.json).
        // The epoch left on the replaced command key goes back to the new key when the overlap ends.
        let unbindTimer: NodeJS.Timeout | undefined;
        const unbindWhenOver = () => {
          clearTimeout(unbindTimer);
          const replaced = pinned?.previous?.command;
          if (replaced?.epoch === undefined || Date.now() >= replaced.until) return;
          unbindTimer = setTimeout(() => node.keys.unbind(replaced.epoch!, 'authorityPublic'), Math.min(replaced.until - Date.now(), 2 ** 31 - 1));
          unbindTimer.unref();
        };
        unbindWhenOver();
        const takeHandover = (payload: Uint8Array, from: unknown) => {
          const result = checkHandover(payload, { genesisKey: pinned!.genesisKey, commandPublicKey: pinned!.commandPublicKey, handover: pinned!.handover ?? 0 });
          // An older one is what the authority re-pushes while two hand-overs overlap (a node that
          // missed the first needs it): counted, changes nothing, not worth a warning.
          if (!result.ok) return result.reason === 'current' || result.reason === 'old' ? count(`handover-${result.reason}`) : refuse(`handover-${result.reason}`, from, result.detail);
          const left = node.membershipStore.current.epoch;
          pinned = pinAfterHandover(pinned!, result.handover, Date.now(), left);
          savePinnedAuthority(node.instanceDir, pinned);
          count('handover-taken');
          if (result.handover.newCommandKey) {
            // An epoch move, node first (as rotate-keys): e + 1 on the new key, e kept on the old
            // one, without a deadline until the authority's membership names the new key.
            node.keys.setDefault({ authorityPublic: result.handover.newCommandKey });
            bindReplacedCommandKey(node.keys, pinned, Date.now());
            const { authority } = node.membershipStore.current;
            node.membershipStore.apply({ epoch: nextEpoch(left), authority: { ...authority, commandPublicKey: pinned.commandPublicKey } }, 'self');
            unbindWhenOver();
          }
          logger.warn({ handover: result.handover.number, genesisKey: pinned.genesisKey, commandPublicKey: pinned.commandPublicKey, previous: pinned.previous }, 'authority keys handed over');
        };
        const socket = await mesh.bind(port, (payload, from) => {
          if (from.address !== membership.authority.address) return refuse('not-authority', from);
          if (!checker || !pinned) return refuse('no-pinned-authority', from);
          if (payload[0] === HANDOVER_KIND) return takeHandover(payload, from);
          const result = checker.take(payload);
          if (!result.ok) return result.reason === 'current' || result.reason === 'partial' || result.reason === 'duplicate' ? count(result.reason) : refuse(result.reason, from, result.detail);
          const next = result.update.membership;
          // Until the authority switches to the new command key it still names the replaced one:
          // the node keeps the epoch and key it moved to, and no overlap starts yet.
          const previousCommand = pinned.previous?.command;
          const beforeSwitch = next.authority.commandPublicKey !== pinned.commandPublicKey && previousCommand?.key === next.authority.commandPublicKey && Date.now() < previousCommand.until;
          if (next.authority.commandPublicKey !== pinned.commandPublicKey && !beforeSwitch) return refuse('wrong-command-key', from, `${next.authority.commandPublicKey}: ${pinned.commandPublicKey} is pinned`);
          mesh.setPeers(next.peers);
          // Saved, then announced: the verifier and the diode follow it for their next packet.
          const { epoch, authority } = node.membershipStore.current;
          if (beforeSwitch) node.membershipStore.apply({ ...next, epoch, authority: { ...next.authority, commandPublicKey: authority.commandPublicKey } }, 'self');
          else node.membershipStore.apply(next, 'authority');
          saveGenesisState(node.instanceDir, { syncSeq: result.update.seq });
          count('applied');
          logger.info({ seq: result.update.seq, peers: next.peers.map((p) => p.name) }, 'membership updated');
        });
        // Bringing ppn0 up means reaching the authority: a handshake now lets commands in at once
        // (and tells the authority where this node is, should it sit behind NAT).
        mesh.whenConnected(membership.authority.address, 15_000).then(
          () => logger.info({ authority: membership.authority.address }, 'session with the authority up'),
          (err: Error) => logger.warn({ err: err.message }, 'no session with the authority yet'),
        );
        return {
          close: async () => {
            clearTimeout(unbindTimer);
            socket.close();
          },
          status: () => ({ pinned: !!pinned, ...(pinned?.handover && { handover: pinned.handover }), peers: membership.peers.map((p) => p.name), ...(checker && { parts: checker.status() }) }),
        };
      },
    };
  },
});

/** Where a node's host finds stage types by name: the app's plugins/ (compiled beside core/). */
export function nodePluginFolders(): string[] {
  return [fileURLToPath(new URL('../../plugins/', import.meta.url))];
}

export function nodeServices(): ServiceDefinition[] {
  return [clockService, nodeService, meshService, registryService, genesisService, membershipUpdatesService];
}
