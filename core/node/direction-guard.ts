// The diode at the sender, below every stage: the mesh a node's stages get refuses to send a
// command-port datagram unless this node is the authority, and refuses anything to the
// authority's command port — whatever stage (a user's plugin included) asks. The graph rule
// (graph-rules.ts) refuses such role files up front; this catches what a stage does on its own.
// A refused send returns false (as an unrouted one does), is counted and logged at a sampled rate.
import type { Logger } from 'pino';
import type { Mesh, MeshSocket } from '../mesh/mesh.js';
import { COMMAND_PORT } from '../mesh/ports.js';
import { logSampler } from '../runtime/log-sampler.js';

export type RefusedSend = 'command-port-not-authority' | 'authority-command-port';

export interface DirectionPolicy {
  /** This node signs commands (read at each send: the membership changes live). */
  isAuthority(): boolean;
  authorityAddress(): string;
}

/** `mesh` with every socket's send checked; its status gains `direction.refusedSends`. */
export function guardDirection(mesh: Mesh, policy: DirectionPolicy, logger: Pick<Logger, 'warn'>): Mesh {
  const refused = new Map<RefusedSend, number>();
  const sampler = logSampler(20);
  const verdict = (address: string, port: number): RefusedSend | undefined => {
    if (port !== COMMAND_PORT) return undefined;
    if (address === policy.authorityAddress()) return 'authority-command-port';
    return policy.isAuthority() ? undefined : 'command-port-not-authority';
  };
  const guarded = (socket: MeshSocket): MeshSocket => ({
    get port() {
      return socket.port;
    },
    send(address, port, payload) {
      const why = verdict(address, port);
      if (!why) return socket.send(address, port, payload);
      refused.set(why, (refused.get(why) ?? 0) + 1);
      if (sampler.allow(why)) logger.warn({ reason: why, to: `${address}:${port}`, from: socket.port }, 'diode refused a send to a command port');
      return false;
    },
    close: () => socket.close(),
  });
  // Everything else of the mesh as it is (a Proxy, so what the mesh gains later passes through).
  return new Proxy(mesh, {
    get(target, key) {
      if (key === 'bind') return async (port: number, onMessage: Parameters<Mesh['bind']>[1]) => guarded(await target.bind(port, onMessage));
      if (key === 'status') return () => ({ ...target.status(), direction: { refusedSends: Object.fromEntries(refused) } });
      const value = Reflect.get(target, key);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
