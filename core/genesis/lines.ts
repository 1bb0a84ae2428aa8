// Newline-delimited JSON over a TCP socket, bounded: the claim exchange's framing.
import type { Socket } from 'node:net';

/** Resolves with the next line (without its newline); rejects on a line over `maxBytes`, close or timeout. */
export function lineReader(socket: Socket, maxBytes: number): (timeoutMs: number) => Promise<string> {
  let buffered = '';
  let ended = false;
  let waiting: { resolve: (line: string) => void; reject: (err: Error) => void } | undefined;
  const pump = () => {
    if (!waiting) return;
    const nl = buffered.indexOf('\n');
    if (nl >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      const w = waiting;
      waiting = undefined;
      return w.resolve(line);
    }
    if (buffered.length > maxBytes) return fail(new Error(`line longer than ${maxBytes} bytes`));
    if (ended) fail(new Error('connection closed'));
  };
  const fail = (err: Error) => {
    const w = waiting;
    waiting = undefined;
    w?.reject(err);
  };
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    pump();
  });
  socket.on('end', () => ((ended = true), pump()));
  socket.on('close', () => ((ended = true), pump()));
  socket.on('error', (err) => fail(err));
  return (timeoutMs) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
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
