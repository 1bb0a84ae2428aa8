// The command path through a running local mesh (four `ppn run` processes over userspace
// WireGuard): intent-to-ack latency, and the cost of fanning one command out to many targets.
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { projectRoot } from '../core/project-root.js';
import { deriveHmacKey, pairSecret } from '../core/protocol/key-derivation.js';
import { formatKey, generateSecret, publicKeyOf } from '../core/keys/index.js';
import { encodePacket } from '../core/protocol/packet.js';
import { createDevice } from '../core/wireguard/device.js';
import { localFleet, prepareLocalMesh } from '../examples/local-mesh/fleet.js';
import { launchLocalMesh } from '../examples/local-mesh/launch.js';
import { scratchDir } from '../test/support/pipeline.js';
import { printTable } from './table.js';

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];

async function intentToAck(): Promise<Record<string, string | number>> {
  const root = scratchDir('bench-mesh');
  const nodes = localFleet(root, 30000 + Math.floor(Math.random() * 9000));
  prepareLocalMesh(nodes);
  const pipelineFor = (n: (typeof nodes)[number]) => {
    const file = join(root, `${n.name}.json`);
    const p = JSON.parse(readFileSync(join(projectRoot(), 'pipelines', `${n.role}.json`), 'utf8'));
    delete p.$schema;
    if (n.role === 'os-network-admin') p.stages.f8.config.port = 0;
    writeFileSync(file, JSON.stringify(p));
    return file;
  };
  const mesh = await launchLocalMesh(nodes, { pipelineFor, logLevel: 'info' });
  const admin = [...mesh.nodes.values()].find((r) => r.node.role === 'os-network-admin')!;
  const times: number[] = [];
  try {
    for (let i = 0; i < 220; i++) {
      const t0 = performance.now();
      const res = await fetch(`${mesh.f8Url}/v1/intents`, {
        method: 'POST',
        headers: { authorization: `Bearer ${mesh.f8Token}` },
        body: JSON.stringify({ text: 'ping leased' }),
      });
      const answer = (await res.json()) as { counter: string };
      await admin.waitForLog((r) => r.msg === 'ack' && (r.body as { counter: string }).counter === answer.counter);
      if (i >= 20) times.push(performance.now() - t0); // the first ones include WireGuard handshakes
    }
  } finally {
    await mesh.stop();
  }
  times.sort((a, b) => a - b);
  return { path: 'F8 → router → signer → diode → WireGuard → leased → ack (200 commands)', 'p50 ms': percentile(times, 0.5), 'p99 ms': percentile(times, 0.99) };
}

/**
 * A command reaches at most 254 nodes (node ids are one octet), so fan-out is measured per packet:
 * N packets, each under its own node key, sent through a userspace WireGuard device to a peer.
 */
async function fanOut(count: number): Promise<Record<string, string | number>> {
  const authority = generateSecret();
  const targets = Array.from({ length: Math.min(count, 2000) }, () => publicKeyOf(generateSecret()));
  const t0 = performance.now();
  const keys = targets.map((pub, i) => deriveHmacKey(pairSecret(authority, pub), 'command', 0, (i % 254) + 1));
  const deriveMs = ((performance.now() - t0) / targets.length) * count;

  const logger = pino({ level: 'silent' });
  const [aKey, bKey] = [generateSecret(), generateSecret()];
  const receiver = await createDevice({ privateKey: bKey, listenPort: 0, bindAddress: '127.0.0.1', address: '10.8.0.2', logger });
  const sender = await createDevice({ privateKey: aKey, listenPort: 0, bindAddress: '127.0.0.1', address: '10.8.0.10', logger });
  receiver.addPeer({ publicKey: formatKey(publicKeyOf(aKey)), allowedIPs: ['10.8.0.10/32'] });
  sender.addPeer({ publicKey: formatKey(publicKeyOf(bKey)), allowedIPs: ['10.8.0.0/24'], endpoint: `127.0.0.1:${receiver.port}` });
  let received = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  receiver.bindUdp(8090, () => {
    if (++received === count) done();
  });
  await new Promise<void>((r) => {
    sender.once('handshake', () => r());
    sender.sendUdp(9, '10.8.0.2', 9, new Uint8Array(0));
  });
  const fields = { epoch: 0, opcode: 1, arg: 0, selector: 0xffff };
  const t1 = performance.now();
  for (let i = 0; i < count; i++) sender.sendUdp(40000, '10.8.0.2', 8090, encodePacket(fields, 1n, keys[i % keys.length]));
  const sendMs = performance.now() - t1;
  // Delivery is waited for but not timed: both devices share this process, so what the
  // receiver's socket buffer cannot hold while the sender loops is lost on loopback.
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([all, new Promise((r) => (timer = setTimeout(r, 3_000)))]);
  clearTimeout(timer);
  await sender.close();
  await receiver.close();
  return {
    packets: count,
    'key derivation, first time (ms)': deriveMs,
    'sign + encrypt + hand to socket (ms)': sendMs,
    'packets/s': (count / sendMs) * 1000,
    'received by the peer': received,
  };
}

export default async function bench(): Promise<void> {
  printTable([await intentToAck()]);
  console.log();
  printTable([await fanOut(254), await fanOut(1_000), await fanOut(10_000)]);
  console.log('\n(key derivation: one X25519 and one HKDF per target, done once and cached by the signer)');
}
