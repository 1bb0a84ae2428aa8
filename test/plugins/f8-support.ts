// An f8-ingress stage on a loopback port, built with the stage kit: real HTTP, a real registry,
// the token it made, and a way to settle the intents it passes on as a router would.
import f8Ingress from '../../plugins/f8-ingress/index.js';
import { Subject } from 'rxjs';
import { GENESIS, HOST, MESH, NODE, REGISTRY, type Envelope, type Genesis, type HostControl } from '../../core/sdk/index.js';
import signer from '../../plugins/signer/index.js';
import { createMesh } from '../../core/mesh/mesh.js';
import { formatKey, generateSecret, publicKeyOf } from '../../core/keys/index.js';
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

export interface SigningBehindF8 {
  f8: F8;
  /** The real signer's stage kit (its outputs and counters). */
  signing: StageKit;
  /** POSTs `body` to F8's /v1/intents and carries what F8 emits through the router to the signer. */
  post(body: { text: string; confirm?: boolean; dryRun?: boolean }, authorization?: string): Promise<[number, any]>;
  close(): Promise<void>;
}

/**
 * F8 → `router` (a test's router plugin) → the real signer, with onprem (node 2) in the registry
 * beside leased; a signed command counts as delivered, as udp-egress would say.
 */
export async function startSigningBehindF8(router: Parameters<typeof startStage>[0]): Promise<SigningBehindF8> {
  const intents$ = new Subject<Envelope>();
  const f8 = await startF8();
  f8.w.registry.upsertNode(
    { id: 2, name: 'onprem', aliases: [], address: '10.8.0.2', role: 'os-infrastructure', groups: [1], takesCommands: true, publicKey: formatKey(publicKeyOf(generateSecret())), status: 'active' },
    'test',
  );
  const routing = await startStage(router, { connect: false });
  const signing = await startStage(signer, { connect: false, services: { [NODE]: f8.w.adminIdentity, [REGISTRY]: f8.w.registry } });
  signing.stage.connect(routing.stage.connect(intents$)).subscribe((env) => env.settle({ status: 'delivered', detail: { id: (env.body as { id: string }).id } }));
  return {
    f8,
    signing,
    async post(body, authorization = f8.auth.authorization) {
      const before = f8.kit.outputs.length;
      const res = fetch(`${f8.url}/v1/intents`, { method: 'POST', headers: { authorization }, body: JSON.stringify(body) });
      const [env] = (await f8.kit.emitted(before + 1)).slice(-1);
      intents$.next(env);
      const answer = await res;
      return [answer.status, await answer.json()];
    },
    async close() {
      intents$.complete();
      await routing.close();
      await signing.close();
      await f8.stop();
    },
  };
}
