// An admin and a node as real stages, for the key lifecycle's tests and bench: the admin's signer,
// udp-egress and telemetry-ingress over the real registry (SQLite), the node's verifier, executor
// and telemetry-egress over its real state database, joined by a wire that carries each datagram
// on the next turn of the event loop and can hold back the ones a test names. What the authority's
// sync pusher and the node's membership-updates service do between a registry change and the
// node's store (sign, send, check: tested in test/genesis) is stood in for by applying the node's
// new epoch from the registry to its store on the next turn, as the authority's update.
import executor from '../../plugins/executor/index.js';
import signer from '../../plugins/signer/index.js';
import telemetryEgress from '../../plugins/telemetry-egress/index.js';
import telemetryIngress from '../../plugins/telemetry-ingress/index.js';
import udpEgress from '../../plugins/udp-egress/index.js';
import verifier from '../../plugins/verifier/index.js';
import { COMMAND_PORT, HOST, MESH, NODE, REGISTRY, TELEMETRY_PORT, type Draft, type HostControl, type OutboundCommand, type RoutedIntent } from '../../core/sdk/index.js';
import { fakeMesh, startStage, type StageKit } from '../../core/sdk/testing.js';
import { AUTHORITY_ADDRESS, NODE_ADDRESS, NODE_ID, tapped, world, type World } from '../plugins/support.js';

const host: HostControl = {
  reload: async () => ({ ok: true }) as never,
  restart: async () => ({ ok: true }) as never,
  setLogLevel: () => {},
  status: () => ({ stages: {}, drops: {}, reloads: { count: 0 }, serviceStatus: {} }) as never,
};

const draftOf = (d: Partial<Draft>): Draft => ({
  intent: 'ping', opcode: 0x01, arg: 0, argName: null, target: 'leased', selector: NODE_ID, confidence: 1, confirm: false, explanation: 'test', ...d,
});

export interface RotationRig {
  w: World;
  signer: StageKit;
  verifier: StageKit;
  executor: StageKit;
  ingress: StageKit;
  /** Command packets the wire held back instead of delivering, by command id. */
  held: Map<string, Buffer>;
  /** A ping for the node; with `hold`, the wire keeps its packet in `held` instead of delivering it. */
  ping(options?: { hold?: boolean }): OutboundCommand;
  rotate(): OutboundCommand;
  /** Delivers a packet to the node's verifier now, as from the authority. */
  deliver(packet: Buffer): void;
  /** Resolves once every target of command `id` has answered. */
  answered(id: string): Promise<void>;
  close(): Promise<void>;
}

export async function rotationRig(verifierConfig: { epochOverlapMs: number; failedTagCap?: number }): Promise<RotationRig> {
  const w = world();
  const kits: StageKit[] = [];
  const held = new Map<string, Buffer>();
  let holding = false;
  let node: { verifier: StageKit } | undefined;
  const from = { address: AUTHORITY_ADDRESS, port: 40000 };
  const deliver = (packet: Buffer) => node!.verifier.push('datagram', packet, { from });
  let signing: string | undefined;
  const adminMesh = tapped(fakeMesh(AUTHORITY_ADDRESS), (port, payload) => {
    if (port !== COMMAND_PORT) return;
    if (holding) return void held.set(signing!, payload);
    setImmediate(() => deliver(payload));
  });
  const nodeMesh = tapped(fakeMesh(NODE_ADDRESS), (port, payload) => {
    if (port !== TELEMETRY_PORT) return;
    setImmediate(() => adminMesh.deliver(TELEMETRY_PORT, payload, { address: NODE_ADDRESS, port: 40001 }));
  });
  const start = async (...args: Parameters<typeof startStage>) => {
    const kit = await startStage(...args);
    kits.push(kit);
    return kit;
  };
  const signerKit = await start(signer, { config: { ackTimeoutMs: 60_000 }, services: { [NODE]: w.adminIdentity, [REGISTRY]: w.registry } });
  const egress = await start(udpEgress, { config: { resendAfterMs: 0 }, services: { [MESH]: adminMesh, [REGISTRY]: w.registry } });
  const ingress = await start(telemetryIngress, { config: {}, services: { [MESH]: adminMesh, [NODE]: w.adminIdentity, [REGISTRY]: w.registry } });
  const verifierKit = await start(verifier, { config: verifierConfig, services: { [NODE]: w.nodeIdentity, [MESH]: nodeMesh } });
  node = { verifier: verifierKit };
  const executorKit = await start(executor, { config: {}, stageId: 'exec', services: { [HOST]: host, [NODE]: w.nodeIdentity } });
  const acks = await start(telemetryEgress, { config: {}, services: { [MESH]: nodeMesh, [NODE]: w.nodeIdentity } });
  const forward = (fromKit: StageKit, to: StageKit) => {
    let passed = 0;
    const next = (): void => void fromKit.emitted(passed + 1).then((out) => {
      for (const env of out.slice(passed)) to.push(env.kind, env.body);
      passed = out.length;
      next();
    });
    next();
  };
  forward(verifierKit, executorKit);
  forward(executorKit, acks);

  // The authority's membership update, on the next turn after the registry moved the node.
  const stopSync = w.registry.onChange((e) => {
    if (e.type !== 'node') return;
    const epoch = w.registry.node(NODE_ID)?.keyEpoch;
    if (epoch !== undefined) setImmediate(() => w.nodeIdentity.membershipStore.apply({ epoch }, 'authority'));
  });

  const sign = (intent: RoutedIntent, hold = false): OutboundCommand => {
    const before = signerKit.outputs.length;
    signerKit.push('draft', intent);
    const env = signerKit.outputs[before];
    if (!env) throw new Error(`the signer refused ${intent.text}: ${JSON.stringify(signerKit.drops())}`);
    const command = env.body as OutboundCommand;
    [holding, signing] = [hold, command.id];
    egress.push('command', command);
    holding = false;
    return command;
  };

  return {
    w,
    signer: signerKit,
    verifier: verifierKit,
    executor: executorKit,
    ingress,
    held,
    ping: (options = {}) => sign({ text: 'ping leased', actor: 'operator', dryRun: false, confirm: false, draft: draftOf({}) }, options.hold),
    rotate: () =>
      sign({ text: 'rotate keys on leased', actor: 'operator', dryRun: false, confirm: true, draft: draftOf({ intent: 'rotate-keys', opcode: 0x06, confirm: true }) }),
    deliver,
    answered: (id) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (w.registry.command(id)?.targets.every((t) => t.status !== 'sent')) {
            stop();
            resolve();
          }
        };
        const stop = w.registry.onChange(check);
        check();
      }),
    async close() {
      stopSync();
      for (const kit of kits.reverse()) await kit.close();
      w.cleanup();
    },
  };
}
