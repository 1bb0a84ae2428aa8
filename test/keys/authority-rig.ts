// An admin and one node for the authority key tests and bench, over the real path: two of our
// userspace WireGuard meshes on loopback UDP, the admin's real sync pusher (following its real
// hand-over log in admin.db, its genesis key read live from the instance directory) and the
// node's real pipeline host running the shipped os-infrastructure pipeline (udp-ingress,
// pointsav-link, verifier, executor, telemetry-egress, membership-sync). Commands are signed here
// as the admin's signer does, with the secret authorityCommandKeys names for (node, epoch).
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { liveGenesisKey } from '../../core/genesis/authority-keys.js';
import { authorityCommandKeys, type AuthorityCommandKeys } from '../../core/registry/authority-command-keys.js';
import { openHandoverLog, type HandoverLog } from '../../core/registry/authority-handovers.js';
import { loadPinnedAuthority, pinAuthority, saveGenesisState, type PinnedAuthority } from '../../core/genesis/authority-pin.js';
import { loadGenesisKey, type GenesisKey } from '../../core/genesis/signing-key.js';
import { startSyncPusher, type SyncPusher } from '../../core/genesis/sync-pusher.js';
import { formatKey, parseKey, publicKeyOf } from '../../core/keys/index.js';
import type { MeshSocket } from '../../core/mesh/mesh.js';
import { SYNC_PORT, TELEMETRY_PORT } from '../../core/mesh/ports.js';
import { loadSecret } from '../../core/membership/instance-files.js';
import { createMembershipStore } from '../../core/membership/membership-store.js';
import { loadMembership, saveMembership, type Membership } from '../../core/membership/membership.js';
import { nodeGraphRules } from '../../core/node/graph-rules.js';
import { nodePluginFolders, nodeServices } from '../../core/node/services.js';
import { projectRoot } from '../../core/project-root.js';
import { deriveHmacKey, pairSecret } from '../../core/protocol/key-derivation.js';
import { encodePacket } from '../../core/protocol/packet.js';
import type { Registry } from '../../core/registry/registry.js';
import { startHost, type Host } from '../../core/runtime/host.js';
import { createPluginLoader } from '../../core/runtime/plugins.js';
import { adminRegistry, feed, freeUdpPort, type Feed } from '../genesis/support.js';
import { startNode } from '../mesh/support.js';
import { scratchDir, writePipeline } from '../support/pipeline.js';

export const EDGE_ID = 5;
export const EDGE_ADDRESS = '10.8.0.5';
const COMMAND_INGRESS_PORT = 8090;

export interface AuthorityRig {
  adminDir: string;
  edgeDir: string;
  registry: Registry;
  log: HandoverLog;
  commandKeys: AuthorityCommandKeys;
  key: GenesisKey;
  pusher: SyncPusher;
  /** The authority as the pusher names it in every membership (its command key changes at the switch). */
  authority: { nodeId: number; commandPublicKey: string; epoch: number };
  /** The edge node's log lines. */
  logs: Feed<Record<string, unknown>>;
  host(): Host;
  /** Sends a datagram to the edge's sync port from the admin's mesh address. */
  toSync(payload: Uint8Array): void;
  /** A ping to the edge, signed under `epoch` with the secret the admin holds for it, sent now; its counter. */
  command(epoch: number, secret?: Buffer): bigint;
  pin(): PinnedAuthority;
  membership(): Membership;
  /** Restarts the edge's host (same instance directory). */
  restartEdge(): Promise<void>;
  close(): Promise<void>;
}

export async function authorityRig(o: { epochOverlapMs: number }): Promise<AuthorityRig> {
  const root = scratchDir('authority-keys');
  const adminDir = join(root, 'admin');
  mkdirSync(adminDir, { mode: 0o700 });
  const { pairing } = adminRegistry(adminDir);
  const registry = pairing.registry;
  const commandSecret = loadSecret(adminDir, 'command.key', true);
  loadGenesisKey(adminDir, true);
  const log = openHandoverLog(registry);
  const key = liveGenesisKey(adminDir, log);
  const commandKeys = authorityCommandKeys(adminDir, registry, commandSecret, () => 0);
  const admin = await startNode('admin', '10.8.0.10');
  const edgeDir = join(root, 'edge');
  const edgeSecret = loadSecret(edgeDir, 'identity.key', true);
  const edgeKey = formatKey(publicKeyOf(edgeSecret));
  const edgeListen = `127.0.0.1:${await freeUdpPort()}`;
  registry.upsertNode({ id: 10, name: 'admin', aliases: [], address: '10.8.0.10', role: 'os-network-admin', groups: [], takesCommands: false, publicKey: admin.publicKey, endpoint: `127.0.0.1:${admin.port}`, status: 'active' }, 'test');
  registry.upsertNode({ id: EDGE_ID, name: 'edge', aliases: [], address: EDGE_ADDRESS, role: 'os-infrastructure', groups: [1], takesCommands: true, publicKey: edgeKey, endpoint: edgeListen, status: 'active' }, 'test');
  admin.mesh.setPeers([{ name: 'edge', publicKey: edgeKey, address: EDGE_ADDRESS, allowedIPs: [`${EDGE_ADDRESS}/32`], endpoint: edgeListen }]);

  const commandPublicKey = formatKey(publicKeyOf(commandSecret));
  pinAuthority(edgeDir, { genesisKey: key.publicText, commandPublicKey, nodeId: 10, address: '10.8.0.10' });
  saveGenesisState(edgeDir, { syncSeq: 0 });
  const first: Membership = {
    nodeId: EDGE_ID, name: 'edge', role: 'os-infrastructure', address: EDGE_ADDRESS, listen: edgeListen, groups: [1], epoch: 0,
    authority: { nodeId: 10, address: '10.8.0.10', commandPublicKey }, peers: [admin.asPeer()],
  };
  saveMembership(edgeDir, first);
  const pipeline = JSON.parse(readFileSync(join(projectRoot(), 'pipelines', 'os-infrastructure.json'), 'utf8'));
  delete pipeline.$schema;
  pipeline.stages.verifier.config = { epochOverlapMs: o.epochOverlapMs };
  const file = writePipeline(root, pipeline, 'edge.pipeline.json');
  const logs = feed<Record<string, unknown>>();
  const logger = pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line)) });
  const start = () => startHost({ file, services: nodeServices(), loader: createPluginLoader(nodePluginFolders()), graphRules: nodeGraphRules(), logger, instanceDir: edgeDir });
  let host = await start();

  const authority = { nodeId: 10, commandPublicKey, epoch: 0 };
  const self: Membership = { ...first, nodeId: 10, name: 'admin', role: 'os-network-admin', address: '10.8.0.10', listen: `127.0.0.1:${admin.port}`, groups: [], peers: [] };
  const pusher = await startSyncPusher({
    registry, pairing, mesh: admin.mesh, key, authority, self: createMembershipStore(adminDir, self), handovers: log,
    everyMs: 60_000, pollMs: 60_000, count: () => {}, logger: pino({ level: 'silent' }),
  });
  const sync: MeshSocket = await admin.mesh.bind(0, () => {});
  // What the edge sends the admin (acks, heartbeats): a restarted edge's first one confirms its new WireGuard session.
  const telemetry = feed<number>();
  const telemetrySocket: MeshSocket = await admin.mesh.bind(TELEMETRY_PORT, () => telemetry.push(telemetry.items.length));
  const commands: MeshSocket = await admin.mesh.bind(0, () => {});
  const edgePublic = parseKey(edgeKey);
  let counter = 1000n;
  return {
    adminDir, edgeDir, registry, log, commandKeys, key, pusher, authority, logs,
    host: () => host,
    toSync: (payload) => void sync.send(EDGE_ADDRESS, SYNC_PORT, payload),
    command(epoch, secret) {
      const ss = pairSecret(secret ?? commandKeys.secretFor(EDGE_ID, epoch)!, edgePublic);
      const c = ++counter;
      commands.send(EDGE_ADDRESS, COMMAND_INGRESS_PORT, encodePacket({ epoch, opcode: 0x01, arg: 0, selector: EDGE_ID }, c, deriveHmacKey(ss, 'command', epoch, EDGE_ID)));
      return c;
    },
    pin: () => loadPinnedAuthority(edgeDir)!,
    membership: () => loadMembership(edgeDir),
    async restartEdge() {
      await host.stop(Date.now() + 2_000);
      const mark = telemetry.items.length;
      host = await start();
      // A restarted node has lost its WireGuard session; the admin (the responder) sends on the new
      // one once the node's first datagram (its first heartbeat) has come in on it.
      await telemetry.waitFor((n) => n >= mark);
      // Even then the admin's first datagrams can be lost (seen here at once after the heartbeat):
      // a probe on the sync port, sent again until the node counts it, shows the way down is open.
      const refused = () => (host.status().stages.sync.counters['refused.malformed'] as number | undefined) ?? 0;
      const before = refused();
      while (refused() === before) {
        sync.send(EDGE_ADDRESS, SYNC_PORT, Buffer.from('probe'));
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async close() {
      await pusher.close();
      sync.close();
      commands.close();
      telemetrySocket.close();
      await host.stop(Date.now() + 2_000);
      await admin.mesh.close();
      registry.close();
    },
  };
}
