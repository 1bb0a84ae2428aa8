// A node changing its identity key without downtime (docs/keys.md, "Identity keys"). A key change
// is an epoch move, node first, as rotate-keys is:
//   1. rotate(): a new key pair, kept pending (identity-keys.ts) and bound to epoch e + 1; the
//      WireGuard device also answers handshakes for it; the node moves itself to e + 1, keeping e
//      (the old key) without a deadline; the identity-change request (tagged under e, proved with
//      the new secret) goes to the authority's telemetry port, again every `resendMs` until
//      answered, since datagrams get lost.
//   2. The authority records the key and moves the node to e + 1; every peer and the hub are given
//      the new key (they reach the node at once: it answers for it), the node its membership.
//   3. That membership, naming the new key, is the confirmation: the device's own key becomes the
//      new one (sessions up stay up), e stays bound to the old key for `overlapMs`, then the old
//      key is forgotten and no longer answered.
import type { Logger } from 'pino';
import { nextEpoch } from '../protocol/key-epochs.js';
import { createIdentityChangeSigner } from '../protocol/identity-change.js';
import type { MembershipStore } from '../membership/membership-store.js';
import type { Mesh, MeshSocket } from '../mesh/mesh.js';
import { TELEMETRY_PORT } from '../mesh/ports.js';
import type { Device } from '../wireguard/device.js';
import type { IdentityKeys } from './identity-keys.js';

export interface IdentityRotationOptions {
  identity: IdentityKeys;
  membershipStore: MembershipStore;
  /** The mesh the request is sent on (the diode's: only up to the authority's telemetry port). */
  mesh: Pick<Mesh, 'bind'>;
  /** The userspace device; absent in OS mode, where the interface's key is the OS's. */
  device: Device | undefined;
  /** The authority's own node changes no identity this way (it would ask itself). */
  isAuthority: boolean;
  resendMs: number;
  overlapMs: number;
  logger: Logger;
  count(what: string): void;
}

export interface IdentityRotation {
  /** Begins a change (`ppn keys rotate-identity`); throws with the reason when it cannot. */
  rotate(): Record<string, unknown>;
  status(): Record<string, unknown>;
  close(): void;
}

export async function startIdentityRotation(o: IdentityRotationOptions): Promise<IdentityRotation> {
  const { identity, membershipStore, device, logger } = o;
  const membership = membershipStore.current;
  const requests = createIdentityChangeSigner({ keys: identity.keys, nodeId: membership.nodeId });
  const socket: MeshSocket = await o.mesh.bind(0, () => o.count('identity-unexpected-inbound'));
  let resend: NodeJS.Timeout | undefined;
  let overlapTimer: NodeJS.Timeout | undefined;
  let sent = 0;

  const send = () => {
    const pending = identity.pending;
    if (!pending) return;
    sent++;
    const routed = socket.send(membership.authority.address, TELEMETRY_PORT, requests.encode(pending.from, pending.secret));
    o.count(routed ? 'identity-change-sent' : 'identity-change-unrouted');
  };
  const keepSending = () => {
    clearInterval(resend);
    send();
    resend = setInterval(send, o.resendMs);
    resend.unref();
  };
  const forgetWhenOver = () => {
    clearTimeout(overlapTimer);
    const previous = identity.previous;
    if (!previous) return;
    overlapTimer = setTimeout(() => {
      identity.endOverlap();
      device?.stopAnswering(previous.publicKey);
      o.count('identity-overlap-ended');
      logger.info({ publicKey: previous.publicKey, epoch: previous.epoch }, 'identity key change finished: the replaced key is forgotten');
    }, Math.max(0, Math.min(previous.until - Date.now(), 2 ** 31 - 1)));
    overlapTimer.unref();
  };

  // Where a restart left it: the device answers for the pending key or the replaced one.
  if (identity.pending) {
    device?.answerAlso(identity.pending.secret);
    keepSending();
    logger.warn({ publicKey: identity.pending.publicKey, from: identity.pending.from }, 'identity key change under way: asking the authority again');
  }
  if (identity.previous) {
    device?.answerAlso(identity.previous.secret);
    forgetWhenOver();
  }

  /** The last key the authority named that is not this node's: said once, not at every update. */
  let mismatch: string | undefined;
  const following = membershipStore.changes$.subscribe(({ current, source }) => {
    const pending = identity.pending;
    if (source !== 'authority') return;
    if (!pending || current.publicKey !== pending.publicKey) {
      if (current.publicKey && current.publicKey !== identity.publicKey && current.publicKey !== mismatch && !pending) {
        mismatch = current.publicKey;
        o.count('identity-mismatch');
        logger.error({ recorded: current.publicKey, own: identity.publicKey }, 'the authority records another identity key for this node: its commands will not verify here');
      }
      return;
    }
    clearInterval(resend);
    const replaced = identity.confirm(Date.now() + o.overlapMs);
    device?.setPrivateKey(identity.secret);
    forgetWhenOver();
    o.count('identity-changed');
    logger.warn({ from: replaced.publicKey, to: identity.publicKey, epoch: current.epoch, requests: sent }, 'identity key changed: the authority confirmed it');
  });

  return {
    rotate() {
      if (o.isAuthority) throw new Error("the authority's own identity key is not changed this way (it would ask itself); see docs/keys.md");
      if (!device) throw new Error("identity rotation needs the userspace mesh: in OS mode the interface's key is the OS's (ppn wg-config)");
      const under = identity.pending;
      if (under) {
        keepSending();
        return { publicKey: under.publicKey, from: under.from, to: under.to, already: true };
      }
      const previous = identity.previous;
      if (previous && previous.until > Date.now()) {
        throw new Error(`the last identity change's overlap runs until ${new Date(previous.until).toISOString()}: change again after it`);
      }
      const from = membership.epoch;
      const pending = identity.begin(from, nextEpoch(from));
      device.answerAlso(pending.secret);
      // Node first: commands the authority signs under the new key once it took the request are
      // accepted before its confirmation arrives; those signed under e still are, with no deadline yet.
      membershipStore.apply({ epoch: pending.to }, 'self');
      keepSending();
      o.count('identity-change-begun');
      logger.warn({ publicKey: pending.publicKey, from: pending.from, to: pending.to }, 'identity key change begun: new key pair made, asking the authority');
      return { publicKey: pending.publicKey, from: pending.from, to: pending.to };
    },
    status: () => ({
      publicKey: identity.publicKey,
      // The keys the device answers handshakes for besides its own (the pending or the replaced one).
      ...(device && { answering: device.answering() }),
      ...(identity.pending && { pending: { publicKey: identity.pending.publicKey, from: identity.pending.from, to: identity.pending.to, since: new Date(identity.pending.since).toISOString(), requests: sent } }),
      ...(identity.previous && { replaced: { publicKey: identity.previous.publicKey, epoch: identity.previous.epoch, until: new Date(identity.previous.until).toISOString() } }),
    }),
    close() {
      following.unsubscribe();
      clearInterval(resend);
      clearTimeout(overlapTimer);
      socket.close();
    },
  };
}
