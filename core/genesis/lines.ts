// Newline-delimited JSON over a TCP socket, bounded: the claim exchange's framing. At most
// `maxBytes` of unread data are ever held, whether or not anyone is waiting for a line: a peer
// that sends more (a line too long, or a stream after its line was read) is cut off, so what a
// stranger sends can never grow our memory.
import type { Socket } from 'node:net';

export class LineError extends Error {
  override name = 'LineError';
  constructor(message: string, readonly reason: 'too-long' | 'closed' | 'timeout' | 'socket') {
    super(message);
  }
}

/** Resolves with the next line (without its newline); rejects with a LineError on a line over `maxBytes`, close or timeout. */
export function lineReader(socket: Socket, maxBytes: number): (timeoutMs: number) => Promise<string> {
  let buffered = '';
  let failure: LineError | undefined;
  let waiting: { resolve: (line: string) => void; reject: (err: Error) => void } | undefined;
  const pump = () => {
    if (!waiting) return;
    const nl = buffered.indexOf('\n');
    const w = waiting;
    if (nl >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      waiting = undefined;
      return w.resolve(line);
    }
    if (failure) {
      waiting = undefined;
      w.reject(failure);
    }
  };
  const fail = (err: LineError) => {
    failure ??= err;
    pump();
  };
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    // Unread data beyond the bound: stop reading this peer at once (nothing more is buffered).
    if (Buffer.byteLength(buffered) > maxBytes) {
      buffered = buffered.slice(0, buffered.indexOf('\n') + 1);
      socket.destroy();
      fail(new LineError(`line longer than ${maxBytes} bytes`, 'too-long'));
    }
    pump();
  });
  socket.on('end', () => fail(new LineError('connection closed', 'closed')));
  socket.on('close', () => fail(new LineError('connection closed', 'closed')));
  socket.on('error', (err) => fail(new LineError(err.message, 'socket')));
  return (timeoutMs) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting = undefined;
        reject(new LineError(`no answer within ${timeoutMs} ms`, 'timeout'));
      }, timeoutMs);
      waiting = {
        resolve: (l) => (clearTimeout(timer), resolve(l)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
      pump();
    });
}

export function writeLine(socket: Socket, value: unknown): void {
  socket.write(`${JSON.stringify(value)}\n`);
}
