// Key lifecycle: how long a node takes to go from `rotate` to its first command accepted under the
// new epoch, beside a plain command's round trip in the same rig and run (the peer); commands lost
// while a node is rotated under 50 commands a second; and what one membership change costs with
// 254 peers, beside the plain save it replaced. The rig is test/keys/rotation-harness.ts: the
// admin's signer, udp-egress and telemetry-ingress and the node's verifier, executor and
// telemetry-egress as real stages over real SQLite files (fsync'd), joined in one process.
// A node's identity key is measured where it matters, on the local mesh (four `ppn run`
// processes, userspace WireGuard over loopback UDP; run under the shared lock): rotate-identity →
// the first command executed under the new key, beside one ping's round trip through F8 in the
// same mesh, and the commands lost while pings go to the node at 50/s.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { saveMembership, type Membership } from '../core/membership/membership.js';
import { createMembershipStore } from '../core/membership/membership-store.js';
import { rotationRig } from '../test/keys/rotation-harness.js';
import { callControl } from '../core/cli/control-client.js';
import { startPinnedLocalMesh } from '../test/support/local-mesh.js';
import { printTable } from './table.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Resolves when the registry records node 3 at an epoch other than `from`. */
function moved(rig: Awaited<ReturnType<typeof rotationRig>>, from: number): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if ((rig.w.registry.node(3)?.keyEpoch ?? 0) !== from) {
        stop();
        resolve();
      }
    };
    const stop = rig.w.registry.onChange(check);
    check();
  });
}

async function rotationTimes(rounds: number) {
  const rig = await rotationRig({ epochOverlapMs: 60_000 });
  const ping: number[] = [];
  const rotate: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      // The peer: one command's round trip (sign, send, verify, persist H, execute, ack, record).
      let t = performance.now();
      await rig.answered(rig.ping().id);
      ping.push(performance.now() - t);
      // rotate → the registry moves on the node's ack → the next command, under the new epoch, executed.
      const from = rig.w.registry.node(3)?.keyEpoch ?? 0;
      t = performance.now();
      rig.rotate();
      await moved(rig, from);
      await rig.answered(rig.ping().id);
      rotate.push(performance.now() - t);
    }
  } finally {
    await rig.close();
  }
  return { ping: median(ping), rotate: median(rotate) };
}

/** Pings at `perSecond` for `seconds`, one rotation in the middle: how many did not execute. */
async function lostDuringRotation(perSecond: number, seconds: number) {
  const rig = await rotationRig({ epochOverlapMs: 60_000 });
  const ids: string[] = [];
  try {
    const total = perSecond * seconds;
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        ids.push(rig.ping().id);
        if (ids.length === total / 2) ids.push(rig.rotate().id);
        if (ids.length > total) {
          clearInterval(timer);
          resolve();
        }
      }, 1000 / perSecond);
    });
    await Promise.all(ids.map((id) => rig.answered(id)));
    const executed = ids.filter((id) => rig.w.registry.command(id)!.targets[0].status === 'executed').length;
    return { sent: ids.length, lost: ids.length - executed, epoch: rig.w.registry.node(3)?.keyEpoch ?? 0 };
  } finally {
    await rig.close();
  }
}

async function membershipChange(peers: number, rounds: number) {
  const dir = mkdtempSync(join(tmpdir(), 'ppn-bench-keys-'));
  const key = 'A'.repeat(43) + '=';
  const base: Membership = {
    nodeId: 3, name: 'leased', role: 'os-infrastructure', address: '10.8.0.3', listen: '192.0.2.3:51820', groups: [1], epoch: 0,
    authority: { nodeId: 10, address: '10.8.0.10', commandPublicKey: key },
    peers: Array.from({ length: peers }, (_, i) => ({ name: `n${i + 1}`, publicKey: key, address: `10.8.0.${i + 1}`, allowedIPs: [`10.8.0.${i + 1}/32`], via: 'hub' })),
  };
  try {
    const store = createMembershipStore(dir, structuredClone(base));
    // Three listeners, as on a node: the verifier, the diode, the mesh.
    for (let i = 0; i < 3; i++) store.changes$.subscribe(() => {});
    const apply: number[] = [];
    const save: number[] = [];
    for (let i = 0; i < rounds; i++) {
      let t = performance.now();
      store.apply({ epoch: (i + 1) % 64 }, 'authority');
      apply.push(performance.now() - t);
      t = performance.now();
      saveMembership(dir, { ...base, epoch: (i + 1) % 64 });
      save.push(performance.now() - t);
    }
    return { apply: median(apply), save: median(save) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * On the local mesh: a ping's round trip through F8 (the peer), and `rounds` identity changes of
 * leased, each timed from its rotate-identity to the first ping executed under the new key (the
 * epoch bound to it) while pings go to leased every 20 ms; the pings of each change not executed.
 */
async function identityRotation(rounds: number) {
  const overlapMs = 1000;
  const { mesh, nodes } = await startPinnedLocalMesh(
    'bench-identity',
    (n, pipeline) => {
      if (n.name === 'leased') pipeline.services = { node: { identity: { resendMs: 500, overlapMs } } };
      if (n.name === 'leased') pipeline.stages.verifier.config = { ...pipeline.stages.verifier.config, epochOverlapMs: overlapMs };
    },
    ['leased', 'cloud-relay'],
  );
  const leasedDir = nodes.find((n) => n.name === 'leased')!.instanceDir;
  const f8 = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${mesh.f8Url}${path}`, { method, headers: { authorization: `Bearer ${mesh.f8Token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return (await res.json()) as any;
  };
  const post = async () => (await f8('POST', '/v1/intents', { text: 'ping leased' })).id as string;
  /** When the command is settled (looked at every 5 ms), and how. */
  const settled = async (id: string): Promise<{ at: number; status: string; epoch: number }> => {
    for (;;) {
      const c = await f8('GET', `/v1/commands/${id}`);
      const t = c.targets[0];
      if (t.status !== 'sent') return { at: performance.now(), status: t.status, epoch: Buffer.from(t.packet, 'hex')[0] & 0x3f };
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const identity = async () => (await callControl(undefined, leasedDir, 'POST', '/services/mesh/identity')) as { replaced?: unknown; pending?: unknown };
  const ping: number[] = [];
  const rotate: number[] = [];
  let sent = 0;
  let lost = 0;
  try {
    await settled(await post());
    for (let i = 0; i < 11; i++) {
      const t = performance.now();
      ping.push((await settled(await post())).at - t);
    }
    for (let round = 0; round < rounds; round++) {
      // A change waits for the last one's overlap to end.
      while ((await identity()).replaced) await new Promise((r) => setTimeout(r, 100));
      const t = performance.now();
      const begun = (await callControl(undefined, leasedDir, 'POST', '/services/mesh/rotate-identity')) as { to: number; error?: string };
      if (begun.error) throw new Error(begun.error);
      const outcomes: Promise<{ at: number; status: string; epoch: number }>[] = [];
      let first: number | undefined;
      // Pings go on for 2 s past the first under the new key: the confirmation, the peers' new
      // sessions and the device's own key change all fall in that window.
      while (first === undefined || performance.now() - t < first + 2000) {
        const outcome = post().then(settled);
        outcomes.push(outcome);
        void outcome.then((o) => {
          if (o.status === 'executed' && o.epoch === begun.to && first === undefined) first = o.at - t;
        });
        await new Promise((r) => setTimeout(r, 20));
      }
      const all = await Promise.all(outcomes);
      sent += all.length;
      lost += all.filter((o) => o.status !== 'executed').length;
      rotate.push(first);
    }
  } finally {
    await mesh.stop();
  }
  return { ping: median(ping), rotate: median(rotate), sent, lost, rounds };
}

export default async function bench(): Promise<void> {
  const times = await rotationTimes(7);
  const lost = await lostDuringRotation(50, 4);
  const change = await membershipChange(254, 21);
  const identity = await identityRotation(5);
  printTable([
    { measure: 'one command, sign → executed and recorded (peer)', 'ms (median)': times.ping, ratio: 1 },
    { measure: 'rotate → first command executed under the new epoch', 'ms (median)': times.rotate, ratio: times.rotate / times.ping },
    { measure: `membership change, 254 peers: save (peer)`, 'ms (median)': change.save, ratio: 1 },
    { measure: `membership change, 254 peers: store.apply (validate, save, 3 listeners)`, 'ms (median)': change.apply, ratio: change.apply / change.save },
    { measure: 'local mesh: one ping through F8, posted → executed (peer)', 'ms (median)': identity.ping, ratio: 1 },
    { measure: 'local mesh: rotate-identity → first command executed under the new identity key', 'ms (median)': identity.rotate, ratio: identity.rotate / identity.ping },
  ]);
  console.log(`\ncommands lost while rotating under 50/s for 4 s: ${lost.lost} of ${lost.sent} (node moved to epoch ${lost.epoch})`);
  console.log(`identity key, local mesh: rotate → first command under the new key is ${(identity.rotate / times.ping).toFixed(0)}x the in-process command (peer row 1)`);
  console.log(`commands lost while changing leased's identity key ${identity.rounds} times, pings every 20 ms until 2 s after the first under the new key: ${identity.lost} of ${identity.sent}`);
}
