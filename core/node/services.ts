// The services a node's host provides to its stages. Stages name the ones they use in their
// definition's `services`; a pipeline file configures them under `services` (and `mesh`).
import { join } from 'node:path';
import { createMesh, type Mesh } from '../mesh/mesh.js';
import { formatKey, publicKeyOf } from '../keys/index.js';
import { openRegistry, type Registry } from '../registry/registry.js';
import { defineService, type ServiceDefinition } from '../runtime/define-stage.js';
import { ensureInstanceDir, loadSecret } from './instance-files.js';
import { loadMembership, type Membership } from './membership.js';

export interface Clock {
  now(): number;
}

export const clockService = defineService<Record<string, never>, Clock>({
  name: 'clock',
  configSchema: { type: 'object', additionalProperties: false },
  create: () => ({ now: () => Date.now() }),
});

/** Who this node is: its keys (in memory only) and what it knows of the mesh. */
export interface NodeIdentity {
  readonly instanceDir: string;
  /** X25519 secret: the WireGuard key, also the node's side of the command keys. */
  readonly secret: Buffer;
  readonly publicKey: string;
  /** The authority's command secret; only on the admin. */
  readonly commandSecret?: Buffer;
  readonly membership: Membership;
  path(name: string): string;
}

export const nodeService = defineService<{ authority: boolean }, NodeIdentity>({
  name: 'node',
  configSchema: {
    type: 'object',
    additionalProperties: false,
    properties: { authority: { type: 'boolean', default: false, description: 'this node signs commands (keeps command.key)' } },
  },
  create(ctx, config) {
    ensureInstanceDir(ctx.instanceDir);
    const secret = loadSecret(ctx.instanceDir, 'identity.key', true);
    const commandSecret = config.authority ? loadSecret(ctx.instanceDir, 'command.key', true) : undefined;
    return {
      instanceDir: ctx.instanceDir,
      secret,
      publicKey: formatKey(publicKeyOf(secret)),
      commandSecret,
      membership: loadMembership(ctx.instanceDir),
      path: (name) => join(ctx.instanceDir, name),
    };
  },
});

export interface MeshConfig {
  mode: 'userspace' | 'os';
  bindAddress?: string;
  forwarding: boolean;
  relay: boolean;
}

export const meshService = defineService<MeshConfig, Mesh>({
  name: 'mesh',
  services: ['node'],
  configSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      mode: { enum: ['userspace', 'os'], default: 'userspace' },
      bindAddress: { type: 'string', format: 'ipv4', description: "underlay address to bind; default: the host part of membership's listen" },
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
  create(ctx, config, deps) {
    const node = deps.resolve<NodeIdentity>('node');
    const [listenHost, listenPort] = node.membership.listen.split(':');
    return createMesh({
      mode: config.mode,
      address: node.membership.address,
      privateKey: node.secret,
      listenPort: Number(listenPort),
      bindAddress: config.bindAddress ?? listenHost,
      peers: node.membership.peers,
      logger: ctx.logger,
      forwarding: config.forwarding,
      relay: config.relay,
    });
  },
  close: (mesh) => mesh.close(),
});

export const registryService = defineService<{ file: string }, Registry>({
  name: 'registry',
  configSchema: {
    type: 'object',
    additionalProperties: false,
    properties: { file: { type: 'string', default: 'admin.db', description: 'SQLite file, relative to the instance directory' } },
  },
  create(ctx, config) {
    ensureInstanceDir(ctx.instanceDir);
    return openRegistry(join(ctx.instanceDir, config.file));
  },
  close: (registry) => registry.close(),
});

export function nodeServices(): ServiceDefinition[] {
  return [clockService, nodeService, meshService, registryService];
}
