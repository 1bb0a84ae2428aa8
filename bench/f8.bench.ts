// F8 under a crowd (issue 12): 1,000 idle connections and 100 event streams that never read,
// while 100 commands of 64 KB each are recorded (each an event on every stream). With the
// default limits, and as a peer run with the limits lifted: connections and streams held,
// refused and dropped, bytes F8 holds unsent, and the process's RSS growth (ratio to the peer).
import { connect, type Socket } from 'node:net';
import { printTable } from './table.js';
import { startF8 } from '../test/plugins/f8-support.js';

const IDLE = 1000;
const STALLED = 100;
const EVENTS = 100;

async function crowd(config: Record<string, unknown>) {
  const f8 = await startF8(config);
  const sockets: Socket[] = [];
  const open = (text: string) =>
    new Promise<void>((resolve) => {
      const s = connect(f8.port, '127.0.0.1', () => {
        if (text) s.write(text);
        resolve();
      });
      s.on('error', () => resolve());
      sockets.push(s);
    });
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  for (let i = 0; i < STALLED; i++) await open(`GET /v1/events HTTP/1.1\r\nHost: f8\r\nAuthorization: Bearer ${f8.token}\r\n\r\n`);
  for (const s of sockets) s.pause();
  for (let i = 0; i < IDLE; i++) await open('');
  for (let i = 0; i < EVENTS; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    f8.w.registry.recordCommand({
      id: `c0-${i + 1}`, at: new Date().toISOString(), actor: 'operator', text: 'x'.repeat(64 * 1024), intent: 'ping', opcode: 1, arg: 0,
      target: 'leased', selector: 3, epoch: 0, counter: String(i + 1), deadline: Date.now() + 600_000,
      targets: [{ nodeId: 3, name: 'leased', address: '10.8.0.3', packet: '00' }],
    });
  }
  const status = f8.kit.stage.status!() as { connections: number; eventStreams: { open: number; bufferedBytes: number } };
  const rss = process.memoryUsage().rss - rss0;
  const answered = (await fetch(`${f8.url}/v1/nodes`, { headers: f8.auth }).catch(() => ({ status: 0 }))).status;
  const c = f8.kit.counts();
  for (const s of sockets) s.destroy();
  await f8.stop();
  return {
    connections: status.connections,
    'refused conns': c['refused.connection-cap'] ?? 0,
    streams: status.eventStreams.open,
    'refused streams': c['refused.event-stream-cap'] ?? 0,
    'dropped streams': (c['event-streams.dropped-slow'] ?? 0) + (c['event-streams.dropped-stalled'] ?? 0),
    'MiB unsent': status.eventStreams.bufferedBytes / 2 ** 20,
    'RSS growth MiB': rss / 2 ** 20,
    'GET /v1/nodes': answered,
  };
}

export default async function bench(): Promise<void> {
  const limited = await crowd({});
  const lifted = await crowd({ maxConnections: 65_536, events: { maxStreams: 4096, maxBufferedBytes: 2 ** 31, stallMs: 3_600_000 } });
  printTable([
    { run: 'default limits', ...limited, 'RSS vs peer': limited['RSS growth MiB'] / lifted['RSS growth MiB'] },
    { run: 'peer: limits lifted', ...lifted, 'RSS vs peer': 1 },
  ]);
}
