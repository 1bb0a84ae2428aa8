// Where a node's log lines go: stdout, written so that the process can never wait on it. A pipe
// whose reader stopped reading (full) or died (closed), or a disk that refuses (error), costs the
// lines, counted by reason, never the process: pino's own destination retries such writes
// forever on the main thread at exit (see /work/shared/FACTS.md "pino + sonic-boom").
import { fstatSync, writeSync, type Stats } from 'node:fs';
import { Socket } from 'node:net';
import { isatty, WriteStream } from 'node:tty';

export type LogDropReason = 'full' | 'closed' | 'error';

export interface LogStream {
  /** What pino calls with each line. */
  write(line: string): void;
  counters(): { written: number; dropped: Record<LogDropReason, number> };
}

/** JSON lines for machines; pretty (pino-pretty's, coloured on a terminal) for people. */
export type LogFormat = 'json' | 'pretty';

export const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty'];

/** What `--log-format` means when not given: pretty on a terminal, JSON anywhere else. */
export function defaultLogFormat(fd = 1): LogFormat {
  return isatty(fd) ? 'pretty' : 'json';
}

/**
 * `stream` with each JSON line turned into pino-pretty's line first. The formatting is done in
 * this thread, synchronously, and the result goes through the same never-blocking write.
 * pino-pretty is loaded only here (≈65 ms), so JSON logging never pays for it.
 */
export async function prettyLogStream(stream: LogStream, colour: boolean): Promise<LogStream> {
  const { prettyFactory } = await import('pino-pretty');
  const prettify = prettyFactory({ colorize: colour, singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
  return {
    write: (line) => stream.write(prettify(line)),
    counters: () => stream.counters(),
  };
}

/** How many bytes may wait for a slow reader before lines are dropped. */
export const DEFAULT_LOG_BACKLOG_BYTES = 1 << 20;

/**
 * A pipe, socket or terminal is written asynchronously (the fd is non-blocking, as libuv opens
 * it) with at most `backlogBytes` waiting; a file, synchronously (a file write does not wait on
 * a reader). Nothing is flushed at exit: what waits is lost, which a stop must allow.
 */
export function createLogStream(fd = 1, backlogBytes = DEFAULT_LOG_BACKLOG_BYTES): LogStream {
  const dropped: Record<LogDropReason, number> = { full: 0, closed: 0, error: 0 };
  let written = 0;
  const stat = statOf(fd);
  // No stdout at all (started with it closed): every line is dropped as closed.
  let closed = stat === undefined;
  let stream: Socket | WriteStream | null = null;
  if (stat?.isFIFO() || stat?.isSocket()) stream = new Socket({ fd, readable: false, writable: true });
  else if (isatty(fd)) {
    stream = new WriteStream(fd);
    // Node makes a terminal blocking; a stopped terminal (XOFF) must not stop the process.
    (stream as unknown as { _handle?: { setBlocking?(b: boolean): void } })._handle?.setBlocking?.(false);
  }
  if (stream) {
    // EPIPE and friends arrive here, not as exceptions; an unread error event would end the process.
    stream.on('error', (err: NodeJS.ErrnoException) => {
      closed = true;
      dropped[err.code === 'EPIPE' || err.code === 'ECONNRESET' ? 'closed' : 'error']++;
    });
    // The log must not keep a stopping process alive.
    (stream as Socket).unref?.();
  }
  return {
    write(line) {
      if (closed) return void dropped.closed++;
      if (stream) {
        if (stream.writableLength > backlogBytes) return void dropped.full++;
        stream.write(line);
        written++;
        return;
      }
      try {
        writeSync(fd, line);
        written++;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EPIPE') closed = true;
        dropped[code === 'EPIPE' ? 'closed' : code === 'EAGAIN' ? 'full' : 'error']++;
      }
    },
    counters: () => ({ written, dropped: { ...dropped } }),
  };
}

function statOf(fd: number): Stats | undefined {
  try {
    return fstatSync(fd);
  } catch {
    return undefined;
  }
}
