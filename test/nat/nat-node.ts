// One mesh node with its paths owned (MeshOptions.paths), run by the NAT tests inside a network
// namespace and driven by JSON lines. The first line on stdin is the configuration (keys travel
// this way, never on the command line); later lines are commands. It reports JSON lines:
//   { event: 'ready' }, { event: 'path', at (epoch ms), peer, from, to, reason } for each path change,
//   { event: 'reply', text, from } for each datagram echoed back, { event: 'status', status }.
//   config:   { name, address, privateKey (base64), listenPort, peers, relay?, timings? }
//   commands: { send: { to, port, text } }, { status: true },
//             { blast: { to, size, ms } } (as fast as the mesh takes them to `to`'s sink port; then
//             { event: 'blasted', sent }), { count: true } ({ event: 'count', received, bytes } of the sink)
import { createInterface } from 'node:readline';
import { createMesh, type Mesh, type MeshSocket } from '../../core/mesh/mesh.js';
import type { MeshPeer } from '../../core/mesh/peer.js';
import { parseKey } from '../../core/keys/index.js';
import type { Logger } from '../../core/wireguard/device.js';

export interface NatNodeConfig {
  name: string;
  address: string;
  privateKey: string;
  listenPort: number;
  peers: MeshPeer[];
  relay?: boolean;
}

export const ECHO_PORT = 7;
export const SINK_PORT = 9;
const BLAST_BATCH = 64;

const say = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
const logger: Logger = {
  debug: () => {},
  info: (obj, msg) => {
    if (msg === 'peer path changed') say({ event: 'path', at: Date.now(), ...obj });
  },
  warn: (obj, msg) => process.stderr.write(`${JSON.stringify({ ...obj, msg })}\n`),
};

let mesh: Mesh | undefined;
let client: MeshSocket | undefined;

async function start(c: NatNodeConfig): Promise<void> {
  mesh = await createMesh({
    mode: 'userspace', address: c.address, privateKey: parseKey(c.privateKey), listenPort: c.listenPort, bindAddress: '0.0.0.0',
    peers: c.peers, relay: c.relay, forwarding: false, logger, paths: {},
  });
  const echo = await mesh.bind(ECHO_PORT, (payload, from) => echo.send(from.address, from.port, payload));
  client = await mesh.bind(0, (payload, from) => say({ event: 'reply', text: payload.toString(), from }));
  await mesh.bind(SINK_PORT, (payload) => {
    sink.received++;
    sink.bytes += payload.length;
  });
  say({ event: 'ready' });
}

const sink = { received: 0, bytes: 0 };

/** Sends `size`-byte datagrams to `to`'s sink for `ms`, in batches, yielding between them. */
function blast(to: string, size: number, ms: number): void {
  const payload = Buffer.alloc(size, 0x61);
  const end = Date.now() + ms;
  let sent = 0;
  const batch = () => {
    for (let i = 0; i < BLAST_BATCH; i++) if (client!.send(to, SINK_PORT, payload)) sent++;
    if (Date.now() < end) setImmediate(batch);
    else say({ event: 'blasted', sent });
  };
  batch();
}

let configured = false;
createInterface({ input: process.stdin })
  .on('line', (line) => {
    if (!configured) {
      configured = true;
      start(JSON.parse(line) as NatNodeConfig).catch((err: Error) => {
        say({ event: 'error', message: err.message });
        process.exit(1);
      });
      return;
    }
    const c = JSON.parse(line) as { send?: { to: string; port: number; text: string }; status?: true; blast?: { to: string; size: number; ms: number }; count?: true };
    if (c.send) client?.send(c.send.to, c.send.port, Buffer.from(c.send.text));
    else if (c.status) say({ event: 'status', status: mesh?.status() });
    else if (c.blast) blast(c.blast.to, c.blast.size, c.blast.ms);
    else if (c.count) say({ event: 'count', ...sink });
  })
  .on('close', () => {
    void mesh?.close().then(() => process.exit(0));
  });
