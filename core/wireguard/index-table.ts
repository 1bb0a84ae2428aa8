// The receiver-index table (wireguard-go's indextable.go): the random 32-bit index each handshake
// and session is known by on the wire, mapped to its peer (and, once derived, its keypair).
import type { Keypair, Peer } from './peer.js';

export interface IndexEntry {
  peer: Peer;
  keypair?: Keypair;
}

export interface IndexTable {
  /** A fresh random index for a handshake in progress. */
  allocate(entry: IndexEntry): number;
  get(index: number): IndexEntry | undefined;
  /** The handshake's index names the session once it is derived. */
  set(index: number, entry: IndexEntry): void;
  delete(index: number): void;
  /** Frees the indices of sessions that were dropped (if they still name those sessions). */
  freeKeypairs(list: (Keypair | undefined)[]): void;
}

function randomIndex(): number {
  return (Math.random() * 2 ** 32) >>> 0;
}

export function createIndexTable(): IndexTable {
  const indices = new Map<number, IndexEntry>();
  return {
    allocate(entry) {
      let i = randomIndex();
      while (indices.has(i)) i = randomIndex();
      indices.set(i, entry);
      return i;
    },
    get: (i) => indices.get(i),
    set: (i, entry) => { indices.set(i, entry); },
    delete: (i) => { indices.delete(i); },
    freeKeypairs(list) {
      for (const k of list) if (k && indices.get(k.localIndex)?.keypair === k) indices.delete(k.localIndex);
    },
  };
}
