// A node's side of membership updates: takes the authority's signed updates on the sync port and
// applies them live — new peers added, gone ones removed, without restarting the tunnel — and
// saves them to membership.json. Only from the authority's mesh address, only signed with the
// pinned genesis key, only newer than the last one taken. Peers change at once; a new name or
// new groups are saved and take effect when the stages that use them are next built.
import { EMPTY } from 'rxjs';
import type { Mesh, MeshSocket } from '../../core/mesh/mesh.js';
import { SYNC_PORT } from '../../core/mesh/ports.js';
import { saveMembership } from '../../core/node/membership.js';
import type { NodeIdentity } from '../../core/node/services.js';
import { parseKey } from '../../core/keys/index.js';
import { defineStage } from '../../core/runtime/define-stage.js';
import { logSampler } from '../../core/runtime/log-sampler.js';
import { loadGenesisState, loadPinnedAuthority, saveGenesisState } from '../../core/genesis/authority-pin.js';
import { createUpdateChecker } from '../../core/genesis/sync.js';

interface Config {
  port: number;
  logPerMinute: number;
}

export default defineStage<Config>({
  type: 'membership-sync',
  kind: 'source',
  description: "Applies the authority's signed membership updates (peers live, the rest saved) received on the sync port",
  services: ['mesh', 'node'],
  configSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      port: { type: 'integer', minimum: 1, maximum: 65535, default: SYNC_PORT },
      logPerMinute: { type: 'integer', minimum: 0, default: 20 },
    },
  },
  ports: (c) => [`mesh:${c.port}`],
  async create(ctx, config) {
    const mesh = ctx.services.resolve<Mesh>('mesh');
    const node = ctx.services.resolve<NodeIdentity>('node');
    const { membership } = node;
    const pinned = loadPinnedAuthority(node.instanceDir);
    if (!pinned) ctx.logger.warn(`no authority pinned (authority.json): membership updates are refused until the node joins with \`ppn join\``);
    const checker = pinned && createUpdateChecker({ genesisKey: parseKey(pinned.genesisKey), nodeId: membership.nodeId, lastSeq: loadGenesisState(node.instanceDir).syncSeq });
    const sampler = logSampler(config.logPerMinute);
    const refuse = (reason: string, from: unknown, detail?: string) => {
      ctx.metrics.count(`refused.${reason}`);
      if (sampler.allow(reason)) ctx.logger.warn({ reason, from, detail }, 'membership update refused');
    };

    const socket: MeshSocket = await mesh.bind(config.port, (payload, from) => {
      if (from.address !== membership.authority.address) return refuse('not-authority', from);
      if (!checker) return refuse('no-pinned-authority', from);
      const result = checker.check(payload);
      if (!result.ok) return result.reason === 'current' ? ctx.metrics.count('current') : refuse(result.reason, from, result.detail);
      const next = result.update.membership;
      if (next.authority.commandPublicKey !== pinned.commandPublicKey) return refuse('wrong-command-key', from);
      mesh.setPeers(next.peers);
      saveMembership(node.instanceDir, next);
      saveGenesisState(node.instanceDir, { syncSeq: result.update.seq });
      // The shared membership object is kept current, so stages rebuilt later see the update.
      Object.assign(membership, next);
      ctx.metrics.count('applied');
      ctx.logger.info({ seq: result.update.seq, peers: next.peers.map((p) => p.name) }, 'membership updated');
    });
    // Bringing ppn0 up means reaching the authority: a handshake now lets commands in at once (and
    // tells the authority where this node is, should it sit behind NAT).
    mesh.whenConnected(membership.authority.address, 15_000).then(
      () => ctx.logger.info({ authority: membership.authority.address }, 'session with the authority up'),
      (err: Error) => ctx.logger.warn({ err: err.message }, 'no session with the authority yet'),
    );
    return {
      connect: () => EMPTY,
      close: async () => socket.close(),
      status: () => ({ pinned: !!pinned, peers: membership.peers.map((p) => p.name) }),
    };
  },
});
