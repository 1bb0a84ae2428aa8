// The diode below every stage: the mesh a node's stages get holds them to the three directions
// of the Diode Standard (docs/diode.md), whatever stage (a user's plugin included) asks.
// - Down: only the authority sends to a command port, and nothing is sent to the authority's.
// - Sideways: a node talks to another node (not the authority) only on the peer sync port; what
//   another node sends it on any other port is dropped on arrival.
// - The authority takes nothing on its command port.
// Up (telemetry) is a node sending to the authority on a port other than the command port.
// The graph rules (graph-rules.ts) refuse such role files up front; this catches what a stage
// does on its own, and what a peer sends. A refused send returns false (as an unrouted one does);
// refusals both ways are counted and logged at a sampled rate.
import type { Logger } from 'pino';
import type { Mesh, MeshHandler, MeshSocket } from '../mesh/mesh.js';
import { COMMAND_PORT, PEER_SYNC_PORT } from '../mesh/ports.js';
import { logSampler } from '../log-sampler.js';

export type RefusedSend = 'command-port-not-authority' | 'authority-command-port' | 'lateral-not-sync-port';
export type RefusedReceive = 'lateral-not-sync-port' | 'authority-command-port';

export interface DirectionPolicy {
  /** This node signs commands (read at each datagram: the membership changes live). */
  isAuthority(): boolean;
  authorityAddress(): string;
}

/** `mesh` with every socket's sends and receipts checked; its status gains `direction`. */
export function guardDirection(mesh: Mesh, policy: DirectionPolicy, logger: Pick<Logger, 'warn'>): Mesh {
  const refusedSends = new Map<RefusedSend, number>();
  const refusedReceives = new Map<RefusedReceive, number>();
  const sampler = logSampler(20);
  const sendVerdict = (address: string, port: number): RefusedSend | undefined => {
    const authority = policy.authorityAddress();
    if (port === COMMAND_PORT) {
      if (address === authority) return 'authority-command-port';
      return policy.isAuthority() ? undefined : 'command-port-not-authority';
    }
    if (policy.isAuthority() || address === authority) return undefined;
    return port === PEER_SYNC_PORT ? undefined : 'lateral-not-sync-port';
  };
  const receiveVerdict = (from: string, localPort: number): RefusedReceive | undefined => {
    if (policy.isAuthority()) return localPort === COMMAND_PORT ? 'authority-command-port' : undefined;
    if (from === policy.authorityAddress()) return undefined;
    return localPort === PEER_SYNC_PORT ? undefined : 'lateral-not-sync-port';
  };
  const guarded = (socket: MeshSocket): MeshSocket => ({
    get port() {
      return socket.port;
    },
    send(address, port, payload) {
      const why = sendVerdict(address, port);
      if (!why) return socket.send(address, port, payload);
      refusedSends.set(why, (refusedSends.get(why) ?? 0) + 1);
      if (sampler.allow(`send ${why}`)) logger.warn({ reason: why, to: `${address}:${port}`, from: socket.port }, 'diode refused a send');
      return false;
    },
    close: () => socket.close(),
  });
  const bind = async (port: number, onMessage: MeshHandler): Promise<MeshSocket> => {
    let localPort = port;
    const socket = await mesh.bind(port, (payload, from) => {
      const why = receiveVerdict(from.address, localPort);
      if (!why) return onMessage(payload, from);
      refusedReceives.set(why, (refusedReceives.get(why) ?? 0) + 1);
      if (sampler.allow(`receive ${why}`)) logger.warn({ reason: why, from: `${from.address}:${from.port}`, to: localPort }, 'diode dropped a datagram on arrival');
    });
    localPort = socket.port;
    return guarded(socket);
  };
  const direction = () => ({ refusedSends: Object.fromEntries(refusedSends), refusedReceives: Object.fromEntries(refusedReceives) });
  // Everything else of the mesh as it is (a Proxy, so what the mesh gains later passes through).
  return new Proxy(mesh, {
    get(target, key) {
      if (key === 'bind') return bind;
      if (key === 'status') return () => ({ ...target.status(), direction: direction() });
      const value = Reflect.get(target, key);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
