// A node that announces a public address it does not have (behind a NAT) still starts its mesh:
// `ppn join --listen PUBLIC:PORT` then `ppn run` used to fail with bind EADDRNOTAVAIL
// (issue 11 item 1).
import { expect } from 'chai';
import { createSocket } from 'node:dgram';
import { pino } from 'pino';
import { bindAddressFor } from '../../core/mesh/bind-address.js';
import { createMesh, type Mesh } from '../../core/mesh/mesh.js';
import { meshService } from '../../core/node/services.js';
import { Subject } from 'rxjs';
import { formatKey, generateSecret, publicKeyOf } from '../../core/keys/index.js';
import { createNodeEpochKeys } from '../../core/protocol/epoch-keys.js';
import type { ServiceContext, Services } from '../../core/runtime/define-stage.js';
import { createNodeMetrics } from '../../core/runtime/node-metrics.js';

const PUBLIC = '192.0.2.50'; // TEST-NET-1: never this machine's
const logger = pino({ level: 'silent' });

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('mesh bind address vs announced endpoint', () => {
  it('binds the announced host when this machine has it, else the wildcard', () => {
    expect(bindAddressFor('127.0.0.1')).to.equal('127.0.0.1');
    expect(bindAddressFor('0.0.0.0')).to.equal('0.0.0.0');
    expect(bindAddressFor(PUBLIC)).to.equal('0.0.0.0');
  });

  it('binding the announced public address itself fails (the bug), the mesh service starts on the same port', async () => {
    const port = await freeUdpPort();
    const options = { mode: 'userspace' as const, address: '10.8.0.7', privateKey: generateSecret(), listenPort: port, peers: [], logger, forwarding: false, relay: false };
    const failed = await Promise.resolve(createMesh({ ...options, bindAddress: PUBLIC })).then((m) => m.close(), (err: NodeJS.ErrnoException) => err.code);
    expect(failed).to.equal('EADDRNOTAVAIL');

    // What of the node the mesh service reads: its membership, its key, its identity keys (the
    // identity rotation it starts, here with nothing under way) and the membership store.
    const membership = { nodeId: 7, address: '10.8.0.7', listen: `${PUBLIC}:${port}`, peers: [], epoch: 0, authority: { address: '10.8.0.10' } };
    const secret = generateSecret();
    const identity = { keys: createNodeEpochKeys({ nodeSecret: secret, authorityPublic: publicKeyOf(generateSecret()) }), publicKey: formatKey(publicKeyOf(secret)) };
    const node = { membership, secret, identity, membershipStore: { current: membership, changes$: new Subject() } };
    const deps = { get: () => node } as unknown as Services;
    const mesh = (await meshService.create({ logger, metrics: createNodeMetrics() } as unknown as ServiceContext, { mode: 'userspace', forwarding: false, relay: false }, deps)) as Mesh;
    try {
      // The port is taken now: the mesh holds it on the wildcard.
      const probe = createSocket('udp4');
      const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
        probe.once('error', resolve);
        probe.bind(port, '0.0.0.0', () => resolve(undefined));
      });
      probe.close();
      expect(err?.code).to.equal('EADDRINUSE');
    } finally {
      await mesh.close();
    }
  });
});
