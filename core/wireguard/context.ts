// What the parts of a device share: its configuration, its peers and routes, the index table,
// drop counting and events. device.ts builds one and hands it to each part.
import type { EventEmitter } from 'node:events';
import type { Aead } from './aead.js';
import type { AllowedIps } from './allowed-ips.js';
import type { Clock } from './clock.js';
import type { CookieChecker } from './cookie.js';
import type { ProtocolTimings } from './constants.js';
import type { Drops } from './drops.js';
import type { IndexTable } from './index-table.js';
import type { LocalIdentity } from './noise.js';
import type { Peer, PeerState } from './peer.js';

/** The subset of pino the device logs through. Public keys may appear; secrets never do. */
export interface Logger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface AnsweredKey {
  readonly local: LocalIdentity;
  /** base64 public key. */
  readonly id: string;
  readonly checker: CookieChecker;
}

export interface DeviceContext {
  readonly clock: Clock;
  readonly log: Logger;
  readonly timings: ProtocolTimings;
  readonly mtu: number;
  /** ChaCha20-Poly1305 for transport data (aead.ts: libsodium, or node:crypto). */
  readonly aead: Aead;
  /** This device's own key: what its initiations are made with. Replaced by setPrivateKey. */
  local: LocalIdentity;
  /**
   * The keys handshakes addressed to this device are answered for, its own first: during an
   * identity change also the key it is moving to (before) or from (after), so peers that know
   * either reach it. mac1 says which one a message is for.
   */
  readonly answered: AnsweredKey[];
  readonly peers: Map<string, Peer>;
  readonly routes: AllowedIps<Peer>;
  readonly indices: IndexTable;
  readonly drop: Drops['drop'];
  readonly events: EventEmitter;
  isClosed(): boolean;
  /** Moves a peer to `state`, emitting a 'peer' event when it changes. */
  setState(peer: Peer, state: PeerState, reason: string): void;
}
