// Per-source handshake rate limit (wireguard-go's ratelimiter/ratelimiter.go): a token bucket per
// source IP address, 20 handshakes a second with bursts of 5, applied only under load and only to
// messages whose mac2 cookie proves the source can receive at its address (handshake-gate.ts).
// So a flood from one address, even one that answers cookies, gets 20 DH computations a second.
// Entries idle for a second are collected (lazily, on use: no timer keeps the process alive).
import type { Clock } from './clock.js';

export const HANDSHAKES_PER_SECOND = 20;
export const HANDSHAKE_BURST = 5;
const COST = 1000 / HANDSHAKES_PER_SECOND;
const MAX_TOKENS = COST * HANDSHAKE_BURST;
const GARBAGE_COLLECT_TIME = 1000;

export interface RateLimiter {
  /** Takes one handshake's worth of tokens from `source`'s bucket; false when it is empty. */
  allow(source: string): boolean;
  /** Sources currently tracked (bounded by the sources seen in the last second). */
  readonly size: number;
}

export function createRateLimiter(clock: Clock): RateLimiter {
  const table = new Map<string, { lastTime: number; tokens: number }>();
  let lastSweep = clock.now();

  function sweep(now: number): void {
    lastSweep = now;
    for (const [source, entry] of table) if (now - entry.lastTime > GARBAGE_COLLECT_TIME) table.delete(source);
  }

  return {
    allow(source) {
      const now = clock.now();
      if (now - lastSweep > GARBAGE_COLLECT_TIME) sweep(now);
      const entry = table.get(source);
      if (!entry) {
        table.set(source, { lastTime: now, tokens: MAX_TOKENS - COST });
        return true;
      }
      entry.tokens = Math.min(MAX_TOKENS, entry.tokens + (now - entry.lastTime));
      entry.lastTime = now;
      // ">=" where wireguard-go has ">": with no time passing (a manual clock) the burst is 5, not 4.
      if (entry.tokens >= COST) {
        entry.tokens -= COST;
        return true;
      }
      return false;
    },
    get size() { return table.size; },
  };
}
