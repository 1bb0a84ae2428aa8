// "Under load" detection (wireguard-go's IsUnderLoad): above a rate of handshake messages the
// device demands mac2 cookies and rate-limits handshakes per source. Counted in one-second
// buckets; the device stays under load for the second after the one that crossed the threshold.
import type { Clock } from './clock.js';

export interface LoadMeter {
  /** Counts one handshake message and says whether the device is under load. */
  handshakeArrived(): boolean;
}

/** `threshold` handshake messages per second; 0 means always under load (tests). */
export function createLoadMeter(clock: Clock, threshold: number): LoadMeter {
  let bucketStart = 0;
  let count = 0;
  let previous = 0;
  return {
    handshakeArrived() {
      if (threshold === 0) return true;
      const now = clock.now();
      if (now - bucketStart >= 1000) {
        previous = now - bucketStart >= 2000 ? 0 : count;
        bucketStart = now;
        count = 0;
      }
      count++;
      return count > threshold || previous > threshold;
    },
  };
}
