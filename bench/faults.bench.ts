// Memory under load (issue 12, "Measure"), of real `ppn run` processes of a local mesh:
// the admin's RSS idle, then with 1,000 idle TCP connections to F8 and 100 event streams that
// never read while 100 commands are sent (each an event on every stream); a node's RSS idle,
// then under a stream of 1,000 commands/s for 5 s (signed with the admin's command key, sent from
// the admin's mesh address by a WireGuard device holding the admin's key, the admin stopped).
// Each loaded figure is printed beside the idle one of the same run, as a ratio.
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { pino } from 'pino';
import { loadSecret } from '../core/membership/instance-files.js';
import { loadMembership } from '../core/membership/membership.js';
import { createSigner } from '../core/protocol/signer.js';
import { parseKey } from '../core/keys/index.js';
import { createDevice } from '../core/wireguard/device.js';
import { startFaultMesh, type FaultNode } from '../test/faults/support.js';
import { printTable } from './table.js';

const IDLE_CONNECTIONS = 1000;
const STALLED_STREAMS = 100;
const COMMANDS_PER_SECOND = 1000;
const STREAM_SECONDS = 5;

const rssMiB = (node: FaultNode) => {
  const status = readFileSync(`/proc/${node.child!.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
};
/** The highest RSS seen while `work` runs, sampled every 100 ms. */
async function peakDuring(node: FaultNode, work: () => Promise<void>): Promise<number> {
  let peak = rssMiB(node);
  const t = setInterval(() => (peak = Math.max(peak, rssMiB(node))), 100);
  try {
    await work();
  } finally {
    clearInterval(t);
  }
  return Math.max(peak, rssMiB(node));
}
const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export default async function bench(): Promise<void> {
  const mesh = await startFaultMesh('bench-faults');
  const rows: Record<string, string | number>[] = [];
  try {
    const admin = mesh.nodes.get('admin')!;
    const leased = mesh.nodes.get('leased')!;
    // Warm up the command path once, then let both settle: the idle baseline.
    for (let i = 0; i < 5; i++) await mesh.post('ping leased');
    await settle(2000);
    const adminIdle = rssMiB(admin);

    const sockets: Socket[] = [];
    const open = (text: string) =>
      new Promise<void>((resolve) => {
        const s = connect(Number(new URL(mesh.f8Url).port), '127.0.0.1', () => {
          if (text) s.write(text);
          resolve();
        });
        s.on('error', () => resolve());
        sockets.push(s);
      });
    let refused = 0;
    const adminLoaded = await peakDuring(admin, async () => {
      for (let i = 0; i < STALLED_STREAMS; i++) await open(`GET /v1/events HTTP/1.1\r\nHost: f8\r\nAuthorization: Bearer ${mesh.f8Token}\r\n\r\n`);
      for (const s of sockets) s.pause();
      for (let i = 0; i < IDLE_CONNECTIONS; i++) await open('');
      for (let i = 0; i < 100; i++) if ((await mesh.post('ping leased'))?.status !== 200) refused++;
      await settle(1000);
    });
    const open_ = sockets.filter((s) => !s.destroyed).length;
    for (const s of sockets) s.destroy();
    rows.push({ process: 'admin', load: 'idle', 'RSS MiB': adminIdle, 'x idle': 1 });
    rows.push({ process: 'admin', load: `${IDLE_CONNECTIONS} idle conns + ${STALLED_STREAMS} stalled streams, 100 cmds (${refused} not answered 200; ${open_} sockets still open)`, 'RSS MiB': adminLoaded, 'x idle': adminLoaded / adminIdle });

    // The node: the admin stops, a device with its keys streams signed commands at leased.
    await admin.stop();
    await settle(1000);
    const leasedIdle = rssMiB(leased);
    const adminDir = admin.node.instanceDir;
    const device = await createDevice({
      privateKey: loadSecret(adminDir, 'identity.key', false),
      listenPort: 0,
      bindAddress: '127.0.0.1',
      address: '10.8.0.10',
      logger: pino({ level: 'silent' }),
    });
    let acks = 0;
    device.bindUdp(8091, () => void acks++);
    const leasedKey = loadMembership(adminDir).peers.find((p) => p.name === 'leased')!.publicKey;
    device.addPeer({ publicKey: leasedKey, allowedIPs: ['10.8.0.3/32'], endpoint: `127.0.0.1:${leased.node.wgPort}` });
    // Counters far above anything the admin used in this run, in the admin's current epoch.
    let next = 10_000_000n;
    const signer = createSigner({ authoritySecret: loadSecret(adminDir, 'command.key', false), epoch: loadMembership(adminDir).epoch, counters: { next: () => next++ } });
    const target = [{ nodeId: 3, publicKey: parseKey(leasedKey) }];
    let sent = 0;
    const leasedLoaded = await peakDuring(leased, async () => {
      const started = performance.now();
      while (performance.now() - started < STREAM_SECONDS * 1000) {
        const due = Math.floor(((performance.now() - started) / 1000) * COMMANDS_PER_SECOND);
        for (; sent < due; sent++) device.sendUdp(40010, '10.8.0.3', 8090, signer.sign({ opcode: 0x01, arg: 0, selector: 3 }, target).packets[0].bytes);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await settle(1000);
    });
    await device.close();
    rows.push({ process: 'node (leased)', load: 'idle', 'RSS MiB': leasedIdle, 'x idle': 1 });
    rows.push({ process: 'node (leased)', load: `${COMMANDS_PER_SECOND} cmds/s for ${STREAM_SECONDS} s (${sent} sent, ${acks} acked)`, 'RSS MiB': leasedLoaded, 'x idle': leasedLoaded / leasedIdle });
  } finally {
    await mesh.stop();
  }
  printTable(rows);
}
