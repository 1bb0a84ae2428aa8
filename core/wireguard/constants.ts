// Protocol constants, named as in the WireGuard whitepaper (§6.1) and wireguard-go's constants.go.
// Times are in milliseconds. Counters are JavaScript numbers: exact below 2^53, which no session
// reaches (at 10 Gbit/s of minimum-size packets that is centuries), so comparisons stay correct.

export const CONSTRUCTION = 'Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s';
export const IDENTIFIER = 'WireGuard v1 zx2c4 Jason@zx2c4.com';
export const LABEL_MAC1 = 'mac1----';
export const LABEL_COOKIE = 'cookie--';

export const REKEY_AFTER_MESSAGES = 2 ** 60;
/** 2^64 − 2^13 − 1 rounds to 2^64 − 2^13 as a double; the difference cannot be reached (see above). */
export const REJECT_AFTER_MESSAGES = 2 ** 64 - 2 ** 13 - 1;
export const REKEY_AFTER_TIME = 120_000;
export const REJECT_AFTER_TIME = 180_000;
export const REKEY_ATTEMPT_TIME = 90_000;
export const REKEY_TIMEOUT = 5_000;
export const KEEPALIVE_TIMEOUT = 10_000;
export const COOKIE_REFRESH_TIME = 120_000;

/** wireguard-go: a retry is scheduled at REKEY_TIMEOUT plus up to this much jitter. */
export const REKEY_TIMEOUT_JITTER_MAX = 334;
/** wireguard-go: initiations from one peer closer together than this are a flood and dropped. */
export const HANDSHAKE_INITIATION_RATE = 50;
/**
 * After two initiations crossed, the side with the lower public key starts again this long after
 * answering the other's: past HANDSHAKE_INITIATION_RATE and the timestamp's ~16 ms grain, so the
 * peer takes it (docs: core/wireguard/README.md, where it differs from wireguard-go).
 */
export const CROSSED_RESTART_AFTER = 100;
/** Packets waiting for a session are kept up to this many per peer (wireguard-go's staged queue). */
export const MAX_STAGED_PACKETS = 128;
/** Data plaintext is padded to a multiple of this (whitepaper §5.4.6). */
export const PADDING_MULTIPLE = 16;
/** The tunnel MTU wg-quick uses by default; packets are padded up to it, never beyond. */
export const DEFAULT_MTU = 1420;

/**
 * The timing knobs a device runs with. Production uses the whitepaper's values; tests and
 * demonstrations may shorten them (e.g. `ppn wg run --rekey-after-time`) to see a rekey happen.
 */
export interface ProtocolTimings {
  rekeyAfterMessages: number;
  rejectAfterMessages: number;
  rekeyAfterTime: number;
  rejectAfterTime: number;
  rekeyAttemptTime: number;
  rekeyTimeout: number;
  keepaliveTimeout: number;
  cookieRefreshTime: number;
}

export const DEFAULT_TIMINGS: Readonly<ProtocolTimings> = Object.freeze({
  rekeyAfterMessages: REKEY_AFTER_MESSAGES,
  rejectAfterMessages: REJECT_AFTER_MESSAGES,
  rekeyAfterTime: REKEY_AFTER_TIME,
  rejectAfterTime: REJECT_AFTER_TIME,
  rekeyAttemptTime: REKEY_ATTEMPT_TIME,
  rekeyTimeout: REKEY_TIMEOUT,
  keepaliveTimeout: KEEPALIVE_TIMEOUT,
  cookieRefreshTime: COOKIE_REFRESH_TIME,
});
