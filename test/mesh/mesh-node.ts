// A child process for the namespace tests: runs one or more meshes (userspace or OS mode) in the
// network namespace it was started in, driven by JSON lines. The first line on stdin is the
// configuration (keys travel this way, never on the command line); later lines are commands.
// Everything it reports is a JSON line on stdout.
//   config:   { nodes: [{ name, mode, address, privateKey (base64), listenPort, bindAddress, peers,
//               forwarding?, relay?, echo?: port, tap?: text }] }
//   commands: { send: { node, to, port, text } }  → { event: 'reply', node, text, from } when echoed back
//             { status: node }                     → { event: 'status', node, status }
//   also:     { event: 'ready', nodes }, { event: 'error', message }
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { createMesh, type Mesh, type MeshMode, type MeshSocket } from '../../core/mesh/mesh.js';
import type { MeshPeer } from '../../core/mesh/peer.js';
import { parseKey } from '../../core/keys/index.js';

export interface NodeConfig {
  name: string;
  mode: MeshMode;
  address: string;
  privateKey: string;
  listenPort: number;
  bindAddress: string;
  peers: MeshPeer[];
  forwarding?: boolean;
  relay?: boolean;
  echo?: number;
  /** Count the packets this node decrypts that contain this text (what a hub can read). */
  tap?: string;
}

interface Running {
  mesh: Mesh;
  client: MeshSocket;
  tapped: number;
}

const say = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
const nodes = new Map<string, Running>();

async function start(c: NodeConfig): Promise<void> {
  const mesh = await createMesh({
    mode: c.mode, address: c.address, privateKey: parseKey(c.privateKey), listenPort: c.listenPort, bindAddress: c.bindAddress,
    peers: c.peers, forwarding: c.forwarding, relay: c.relay, logger: pino({ level: 'warn' }, pino.destination(2)),
  });
  const running: Running = { mesh, tapped: 0, client: undefined! };
  if (c.echo) {
    const echo = await mesh.bind(c.echo, (payload, from) => echo.send(from.address, from.port, payload));
  }
  running.client = await mesh.bind(0, (payload, from) => say({ event: 'reply', node: c.name, text: payload.toString(), from }));
  if (c.tap) {
    const marker = Buffer.from(c.tap);
    mesh.device!.on('inner', (e) => { if (e.packet.includes(marker)) running.tapped++; });
  }
  nodes.set(c.name, running);
}

function command(line: string): void {
  const c = JSON.parse(line) as { send?: { node: string; to: string; port: number; text: string }; status?: string };
  if (c.send) {
    const n = nodes.get(c.send.node)!;
    n.client.send(c.send.to, c.send.port, Buffer.from(c.send.text));
  } else if (c.status) {
    const n = nodes.get(c.status)!;
    say({ event: 'status', node: c.status, status: { ...n.mesh.status(), tapped: n.tapped } });
  }
}

let configured = false;
createInterface({ input: process.stdin })
  .on('line', (line) => {
    if (configured) return command(line);
    configured = true;
    const { nodes: list } = JSON.parse(line) as { nodes: NodeConfig[] };
    list.reduce((p, c) => p.then(() => start(c)), Promise.resolve()).then(
      () => say({ event: 'ready', nodes: list.map((n) => n.name) }),
      (err: Error) => {
        say({ event: 'error', message: err.message });
        process.exitCode = 1;
        process.stdin.destroy();
      },
    );
  })
  .on('close', async () => {
    for (const n of nodes.values()) await n.mesh.close();
  });
