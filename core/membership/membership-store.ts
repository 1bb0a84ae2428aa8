// Membership as one observable store: the current value, one way to change it, and a stream of
// the changes. The authority's updates (membership-sync) and the node's own moves (the executor's
// rotate-keys) both go through `apply`; stages subscribe to `changes$` and so use a new epoch,
// new groups or a new authority address for the very next packet, without being rebuilt.
import { Subject, type Observable } from 'rxjs';
import { saveMembership, type Membership } from './membership.js';

/** Who changed it: the authority's signed update, or this node itself (a rotate-keys it executed). */
export type MembershipSource = 'authority' | 'self';

export interface MembershipChange {
  /** A copy of the value before the change. */
  readonly previous: Membership;
  /** The value now (the store's own object). */
  readonly current: Membership;
  readonly source: MembershipSource;
}

export interface MembershipStore {
  /** The current value. Always the same object, changed in place, so holders of it see every change. */
  readonly current: Membership;
  /**
   * The one way to change membership: `update`'s fields replace the current ones, the result is
   * validated and saved (membership.json) before anyone hears of it; then `changes$` emits,
   * synchronously. Invalid input throws and changes nothing. An update of the node's own that
   * changes nothing is no news (undefined); one of the authority's always is: it confirms what
   * the node has (the verifier ends the overlap of an epoch move the node made itself).
   */
  apply(update: Partial<Membership>, source: MembershipSource): MembershipChange | undefined;
  readonly changes$: Observable<MembershipChange>;
}

export function createMembershipStore(instanceDir: string, initial: Membership): MembershipStore {
  const current = initial;
  const changes = new Subject<MembershipChange>();
  return {
    current,
    apply(update, source) {
      const next: Membership = { ...current, ...update };
      const same = JSON.stringify(next) === JSON.stringify(current);
      if (same && source === 'self') return undefined;
      if (!same) saveMembership(instanceDir, next);
      const previous = structuredClone(current);
      Object.assign(current, next);
      const change = { previous, current, source };
      changes.next(change);
      return change;
    },
    changes$: changes.asObservable(),
  };
}
