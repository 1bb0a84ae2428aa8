// `npm run demo`: the seed's fleet on this machine — cloud relay, onprem, leased and admin, each its
// own process, joined by userspace WireGuard over loopback — and one plain-language command
// followed hop by hop. `npm run demo -- --once` exits after the ack (0) or on a failed hop (1).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../core/project-root.js';
import { localFleet, prepareLocalMesh, RELAYED, type LocalNode } from './fleet.js';
import { launchLocalMesh, type LogRecord, type RunningMesh } from './launch.js';

const INTENT = 'restart telemetry on the leased node';

const args = process.argv.slice(2);
if (args.includes('--help')) {
  console.log(`usage: npm run demo [-- --once] [-- --root DIR] [-- --base-port N]

Starts a local mesh of four nodes (instance directories under DIR, default instance/demo),
sends "${INTENT}" through the F8 terminal and prints each hop.
  --once          exit after the ack: 0 when every hop succeeded, 1 otherwise
  --base-port N   node N's WireGuard listens on 127.0.0.1:(N + node id); default 51820`);
  process.exit(0);
}
const once = args.includes('--once');
const option = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const root = option('--root') ?? join(projectRoot(), 'instance', 'demo');
const basePort = Number(option('--base-port') ?? 51820);
if (!Number.isInteger(basePort) || basePort < 1024 || basePort > 65000) {
  console.error(`--base-port must be a whole number from 1024 to 65000, got ${option('--base-port')}`);
  process.exit(2);
}

// SIGTERM (e.g. to the demo's process group), SIGINT (Ctrl-C) and SIGHUP (the terminal closed)
// all stop the nodes, at any point; a node outlives the demo only if the demo is killed, and
// then ends by itself (its IPC channel to the demo closes).
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
let running: RunningMesh | undefined;
const stopRequested = new Promise<NodeJS.Signals>((resolve) => {
  for (const signal of STOP_SIGNALS) process.once(signal, () => resolve(signal));
});
stopRequested.then(async (signal) => {
  console.log(`\n${signal}: stopping the nodes`);
  await running?.stop();
  process.exit(0);
});

const step = (n: number, text: string) => console.log(`\n[${n}] ${text}`);
const say = (text: string) => console.log(`    ${text}`);

async function main(): Promise<number> {
  const nodes = localFleet(root, basePort);
  step(1, `Preparing ${nodes.length} nodes in ${root} (keys are made once and kept)`);
  prepareLocalMesh(nodes);
  for (const n of nodes) say(`${n.name.padEnd(12)} ${`10.8.0.${n.id}`.padEnd(10)} ${n.role.padEnd(18)} WireGuard on 127.0.0.1:${n.wgPort}`);
  for (const name of RELAYED) say(`admin ↔ ${name}: no direct path; their end-to-end WireGuard session is relayed by the hub`);

  const names = new Map<string, string>();
  const onLog = (node: LocalNode, r: LogRecord) => {
    if (r.msg === 'handshake completed' && r.initiator) say(`${node.name}: WireGuard session up with ${names.get(String(r.peer)) ?? r.peer}`);
    if (r.msg === 'command handled') say(`${node.name}: executed counter ${r.counter}: ${r.status} — ${r.detail}`);
    if (typeof r.level === 'number' && r.level >= 50) say(`${node.name}: ERROR ${r.msg} ${JSON.stringify(r)}`);
  };
  step(2, 'Starting the nodes (one `ppn run` process each)');
  const mesh: RunningMesh = await launchLocalMesh(nodes, { onLog });
  running = mesh;
  for (const n of nodes) {
    const membership = JSON.parse(readFileSync(join(n.instanceDir, 'membership.json'), 'utf8'));
    for (const p of membership.peers) names.set(p.publicKey, p.name);
  }
  say(`all running; F8 at ${mesh.f8Url}`);

  let ok = false;
  try {
    ok = await sendAndFollow(mesh);
  } catch (err) {
    console.error(`\nFAILED: ${(err as Error).message}`);
  }
  if (once) {
    await mesh.stop();
    return ok ? 0 : 1;
  }
  console.log(`\nThe mesh keeps running. F8 terminal: ${mesh.f8Url}/`);
  console.log(`Operator token (also in ${join(root, 'admin', 'f8.token')}):\n  ${mesh.f8Token}`);
  console.log(`Try:\n  curl -s -H "authorization: Bearer $(cat ${join(root, 'admin', 'f8.token')})" -d '{"text":"ping everyone"}' ${mesh.f8Url}/v1/intents`);
  console.log('Ctrl-C (or SIGTERM, SIGHUP) stops every node.');
  return new Promise<number>(() => {}); // ends through stopRequested
}

async function sendAndFollow(mesh: RunningMesh): Promise<boolean> {
  step(3, `Operator → F8: "${INTENT}"`);
  const res = await fetch(`${mesh.f8Url}/v1/intents`, {
    method: 'POST',
    headers: { authorization: `Bearer ${mesh.f8Token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ text: INTENT }),
  });
  const answer = (await res.json()) as any;
  if (res.status !== 200) throw new Error(`F8 answered ${res.status}: ${JSON.stringify(answer)}`);
  const d = answer.draft;
  step(4, 'service-slm draft');
  say(`intent ${d.intent} (opcode 0x${d.opcode.toString(16).padStart(2, '0')}), argument ${d.argName} (${d.arg}), target ${d.target} (selector 0x${d.selector.toString(16).padStart(4, '0')})`);
  say(`confidence ${d.confidence.toFixed(2)}: ${d.explanation}`);
  step(5, `Signed: command ${answer.id}, counter ${answer.counter}`);
  for (const t of answer.targets) say(`${t.name} ${t.address}:8090  packet ${t.packet}`);
  step(6, 'Through the diode, over WireGuard, to the node; executed; acknowledged on telemetry');
  const admin = [...mesh.nodes.values()].find((r) => r.node.role === 'os-network-admin')!;
  const ack = await admin.waitForLog((r) => r.msg === 'ack', 15_000);
  const body = ack.body as Record<string, unknown>;
  say(`admin: ack from node ${body.nodeId}: ${body.status} (${body.detail})`);
  const status = (await (await fetch(`${mesh.f8Url}/v1/commands/${answer.id}`, { headers: { authorization: `Bearer ${mesh.f8Token}` } })).json()) as any;
  step(7, `GET /v1/commands/${answer.id}`);
  for (const t of status.targets) say(`${t.name}: ${t.status}${t.detail ? ` — ${t.detail}` : ''}`);
  return status.targets.every((t: { status: string }) => t.status === 'executed');
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`demo failed: ${(err as Error).message}`);
    process.exit(1);
  },
);
