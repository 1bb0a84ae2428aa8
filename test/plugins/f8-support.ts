// An f8-ingress stage on a loopback port, built with the stage kit: real HTTP, a real registry,
// the token it made, and a way to settle the intents it passes on as a router would.
import f8Ingress from '../../plugins/f8-ingress/index.js';
import { GENESIS, HOST, MESH, NODE, REGISTRY, type Genesis, type HostControl } from '../../core/sdk/index.js';
import { createMesh } from '../../core/mesh/mesh.js';
import { formatKey, publicKeyOf } from '../../core/keys/index.js';
import { startStage, type StageKit } from '../../core/sdk/testing.js';
import { readFileSync } from 'node:fs';
import { world, type World } from './support.js';

export interface F8 {
  w: World;
  kit: StageKit;
  url: string;
  port: number;
  token: string;
  auth: { authorization: string };
  stop(): Promise<void>;
}

const noGenesis: Genesis = {
  startAuthority: () => Promise.reject(new Error('not in this test')),
  nodeRoute: async () => undefined,
  joinCodes: () => new Map(),
};
/** F8 reads only the stages' status of its host (the router's backend). */
const host = { status: () => ({ stages: { router: { type: 'slm-router', state: 'running', generation: 1, counters: {}, details: { backend: 'catalog' } } } }) } as unknown as HostControl;

export async function startF8(config: Record<string, unknown> = {}): Promise<F8> {
  const w = world();
  // The admin's own userspace mesh (paths owned), peered with the registry's node: F8 shows its path.
  const mesh = await createMesh({
    mode: 'userspace', address: w.adminIdentity.membership.address, privateKey: w.authority.secret, listenPort: 0, bindAddress: '127.0.0.1',
    peers: [{ name: 'leased', publicKey: formatKey(publicKeyOf(w.node.secret)), address: w.nodeIdentity.membership.address, allowedIPs: [`${w.nodeIdentity.membership.address}/32`], endpoint: '127.0.0.1:9' }],
    logger: { debug: () => {}, info: () => {}, warn: () => {} }, paths: {},
  });
  const kit = await startStage(f8Ingress, {
    config: { port: 0, ...config },
    services: { [NODE]: w.adminIdentity, [REGISTRY]: w.registry, [GENESIS]: noGenesis, [MESH]: mesh, [HOST]: host },
  });
  const url = kit.stage.status!().url as string;
  const token = readFileSync(w.adminIdentity.path('f8.token'), 'utf8').trim();
  return {
    w, kit, url: url.replace(/\/$/, ''), port: Number(new URL(url).port), token,
    auth: { authorization: `Bearer ${token}` },
    async stop() {
      await kit.close();
      await mesh.close();
      w.cleanup();
    },
  };
}
