// Time as the device sees it. Injected so that timer behaviour (keepalives, rekeys, give-up) is
// tested by moving a manual clock instead of waiting minutes.

export interface Clock {
  /** Monotonic milliseconds: ages of sessions, cookies and handshakes. */
  now(): number;
  /** Milliseconds since the epoch: only for TAI64N timestamps and "last handshake" reports. */
  wallTime(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  wallTime: () => Date.now(),
  // Unreferenced: protocol timers alone must not keep a process alive; the socket does.
  setTimer: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimer: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface ManualClock extends Clock {
  /** Moves time forward, running every timer that falls due, in order, including ones they set. */
  advance(ms: number): void;
  /** When the earliest pending timer falls due, if any: lets a simulation stop there. */
  nextTimerAt(): number | undefined;
}

export function createManualClock(startWallTime = Date.UTC(2025, 0, 1)): ManualClock {
  let now = 0;
  let seq = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  return {
    now: () => now,
    wallTime: () => startWallTime + now,
    setTimer(fn, ms) {
      const id = ++seq;
      timers.set(id, { at: now + Math.max(0, ms), fn });
      return id;
    },
    clearTimer: (h) => { timers.delete(h as number); },
    nextTimerAt() {
      let at: number | undefined;
      for (const t of timers.values()) if (at === undefined || t.at < at) at = t.at;
      return at;
    },
    advance(ms) {
      const end = now + ms;
      for (;;) {
        let next: [number, { at: number; fn: () => void }] | undefined;
        for (const entry of timers) {
          if (entry[1].at <= end && (!next || entry[1].at < next[1].at || (entry[1].at === next[1].at && entry[0] < next[0]))) next = entry;
        }
        if (!next) break;
        timers.delete(next[0]);
        now = next[1].at;
        next[1].fn();
      }
      now = end;
    },
  };
}
