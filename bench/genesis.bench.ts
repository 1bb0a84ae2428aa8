// Genesis figures. First boot to first command: a fresh node (identity key made on the spot, the
// authority pinned from a bundle) runs `ppn join`, hears the beacon, is admitted at once (the admin
// auto-approves), then `ppn run` brings ppn0 up and the node executes a ping typed into F8. All
// processes on loopback, one after another; then the per-message costs behind it.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { admit } from '../core/genesis/admission.js';
import { pinAuthority } from '../core/genesis/authority-pin.js';
import { createBeaconChecker, encodeBeacon } from '../core/genesis/beacon.js';
import { claimNode, listenForClaim } from '../core/genesis/claim.js';
import { newCode } from '../core/genesis/code.js';
import { joinKeys, newNonce, openRequest, sealRequest } from '../core/genesis/join.js';
import { openPairing } from '../core/genesis/pairing.js';
import { genesisKeyFromSeed, loadGenesisKey } from '../core/genesis/signing-key.js';
import { loadSecret } from '../core/membership/instance-files.js';
import { loadMembership } from '../core/membership/membership.js';
import { projectRoot } from '../core/project-root.js';
import { formatKey, generateSecret, publicKeyOf } from '../core/keys/index.js';
import { openRegistry } from '../core/registry/registry.js';
import { freeUdpPort } from '../test/genesis/support.js';
import { scratchDir } from '../test/support/pipeline.js';
import { printTable } from './table.js';

const cli = join(projectRoot(), 'dist/core/cli/main.js');
const RUNS = 5;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface Child {
  child: ChildProcess;
  /** The first output line (already seen or still to come) that matches, with the time it came. */
  first(match: (line: string) => boolean, timeoutMs?: number): Promise<{ line: string; at: number }>;
  stop(): Promise<void>;
}

function launch(args: string[]): Child {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const seen: { line: string; at: number }[] = [];
  const waiters = new Set<{ match: (l: string) => boolean; resolve: (v: { line: string; at: number }) => void }>();
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const entry = { line, at: performance.now() };
    seen.push(entry);
    for (const w of [...waiters]) if (w.match(line)) (waiters.delete(w), w.resolve(entry));
  });
  return {
    child,
    first: (match, timeoutMs = 30_000) =>
      seen.find((e) => match(e.line)) ? Promise.resolve(seen.find((e) => match(e.line))!) :
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${args[0]}: no matching line within ${timeoutMs} ms ${stderr}`)), timeoutMs);
        waiters.add({ match, resolve: (v) => (clearTimeout(timer), resolve(v)) });
      }),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

const logged = (msg: string, extra: (r: Record<string, unknown>) => boolean = () => true) => (line: string) => {
  try {
    const r = JSON.parse(line);
    return r.msg === msg && extra(r);
  } catch {
    return false;
  }
};

async function firstBootToFirstCommand(beaconEveryMs: number): Promise<Record<string, string | number>> {
  const root = scratchDir('bench-genesis');
  const base = 40000 + Math.floor(Math.random() * 15000);
  const beaconPort = await freeUdpPort();
  const adminDir = join(root, 'admin');
  const init = launch(['authority', 'init', '--instance', adminDir, '--listen', `127.0.0.1:${base}`]);
  await new Promise((r) => init.child.once('exit', r));
  const pipeline = JSON.parse(readFileSync(join(projectRoot(), 'pipelines/os-network-admin.json'), 'utf8'));
  delete pipeline.$schema;
  pipeline.stages.f8.config = { port: 0 };
  pipeline.stages.genesis.config = { admission: 'auto', beacon: { broadcast: '127.0.0.1', port: beaconPort, everyMs: beaconEveryMs } };
  writeFileSync(join(root, 'admin.json'), JSON.stringify(pipeline));
  const admin = launch(['run', join(root, 'admin.json'), '--instance', adminDir, '--no-watch']);
  const f8Url = JSON.parse((await admin.first(logged('F8 terminal listening'))).line).url as string;
  await admin.first(logged('control endpoint on loopback'));
  const token = readFileSync(join(adminDir, 'f8.token'), 'utf8').trim();
  const membership = loadMembership(adminDir);
  const pinned = {
    genesisKey: loadGenesisKey(adminDir, false).publicText,
    commandPublicKey: formatKey(publicKeyOf(loadSecret(adminDir, 'command.key', false))),
    nodeId: membership.nodeId,
    address: membership.address,
  };
  const phases = { beacon: [] as number[], join: [] as number[], run: [] as number[], command: [] as number[], total: [] as number[] };
  const nodes: Child[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      const name = `edge-${i}`;
      const dir = join(root, name);
      pinAuthority(dir, pinned);
      const t0 = performance.now();
      const joining = launch(['join', '--instance', dir, '--beacon-port', String(beaconPort), '--listen', `127.0.0.1:${base + 1 + i}`]);
      const heard = joining.first((l) => l.startsWith('beacon from the authority'));
      const joined = joining.first((l) => l.startsWith('joined as'));
      const t1 = (await heard).at;
      const t2 = (await joined).at;
      await new Promise((r) => (joining.child.exitCode !== null ? r(null) : joining.child.once('exit', r)));
      const node = launch(['run', '--role', 'os-infrastructure', '--instance', dir, '--no-watch']);
      nodes.push(node);
      const t3 = (await node.first(logged('pipeline running'))).at;
      const handled = node.first(logged('command handled', (r) => r.status === 'executed'));
      const res = await fetch(`${f8Url}v1/intents`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify({ text: `ping ${name}` }) });
      if (res.status !== 200) throw new Error(`F8 answered ${res.status}: ${await res.text()}`);
      const t4 = (await handled).at;
      phases.beacon.push(t1 - t0);
      phases.join.push(t2 - t1);
      phases.run.push(t3 - t2);
      phases.command.push(t4 - t3);
      phases.total.push(t4 - t0);
    }
  } finally {
    for (const n of nodes) await n.stop();
    await admin.stop();
  }
  return {
    'beacon every': `${beaconEveryMs} ms`,
    'to beacon (process start, key)': median(phases.beacon),
    'join → grant': median(phases.join),
    '`ppn run` up': median(phases.run),
    'F8 → executed': median(phases.command),
    'first boot → first command': median(phases.total),
    'max total': Math.max(...phases.total),
  };
}

async function perMessage(): Promise<Record<string, string | number>[]> {
  const key = genesisKeyFromSeed(randomBytes(32));
  const rate = (n: number, f: (i: number) => unknown) => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) f(i);
    return Math.round(n / ((performance.now() - t0) / 1000));
  };
  const beacons = Array.from({ length: 2000 }, (_, i) => encodeBeacon(key, { host: '192.0.2.1', port: 9444 }, 1e12 + i));
  const checker = createBeaconChecker({ authorityKey: key.publicKey, freshnessMs: Infinity, lastAccepted: 0, now: () => 1e12 });
  const forged = beacons.map((b) => Buffer.concat([b.subarray(0, 110), Buffer.from([b[110] ^ 1])]));
  const authority = generateSecret();
  const requests = Array.from({ length: 500 }, () => {
    const secret = generateSecret();
    return sealRequest(joinKeys(secret, publicKeyOf(authority)), { v: 1, publicKey: formatKey(publicKeyOf(secret)), name: 'edge', role: 'os-infrastructure', listen: '192.0.2.7:51820', at: Date.now(), nonce: newNonce() });
  });
  const pairing = openPairing(openRegistry(join(scratchDir('bench-genesis'), 'admin.db')));
  const policy = { auto: true, maxPending: 32, groupsByRole: {} };
  const keys = Array.from({ length: 250 }, () => formatKey(publicKeyOf(generateSecret())));
  const claimT0 = performance.now();
  const code = newCode();
  const listener = await listenForClaim({ host: '127.0.0.1', port: 0, code, nodePublicKey: keys[0] });
  await claimNode({ node: { host: '127.0.0.1', port: listener.port }, code, genesisKey: key, authority: { genesisKey: key.publicText, commandPublicKey: keys[1], nodeId: 10, address: '10.8.0.10' }, joinEndpoint: '127.0.0.1:9444', now: Date.now });
  const claimMs = performance.now() - claimT0;
  return [
    { operation: 'beacon: encode and sign (Ed25519)', 'per second': rate(2000, (i) => encodeBeacon(key, { host: '192.0.2.1', port: 9444 }, i)) },
    { operation: 'beacon: check a valid one', 'per second': rate(2000, (i) => checker.check(beacons[i])) },
    { operation: 'beacon: check a forged one (signature fails)', 'per second': rate(2000, (i) => checker.check(forged[i])) },
    { operation: 'join request: authenticate (X25519 + HKDF + HMAC)', 'per second': rate(500, (i) => openRequest(requests[i].body, requests[i].mac, authority)) },
    { operation: 'admission: allocate an id and register (SQLite, fsync)', 'per second': rate(250, (i) => admit(pairing, { publicKey: keys[i], name: 'edge', role: 'os-infrastructure', listen: '192.0.2.7:51820' }, policy)) },
    { operation: 'claim: whole exchange on loopback (scrypt N=2^14 on both sides)', 'per second': Math.round(1000 / claimMs) },
  ];
}

export default async function (): Promise<void> {
  console.log(`First boot → first executed command, admin auto-approving (loopback processes, median of ${RUNS}; ms)\n`);
  printTable([await firstBootToFirstCommand(2000), await firstBootToFirstCommand(250)]);
  console.log('\nPer message\n');
  printTable(await perMessage());
}
