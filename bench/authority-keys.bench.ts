// Authority keys (issue 13 item 4): how long a node takes from `rotate-authority` to the first
// membership update taken under the new genesis key, beside a plain membership change (the peer);
// from rotate to the first command accepted under the new command key, beside a plain command
// (the peer); and commands lost while each key is handed over under 50 commands a second. The
// rig is test/keys/authority-rig.ts: the admin's real sync pusher and hand-over log (admin.db)
// and the node's shipped pipeline, over two userspace WireGuard meshes on loopback UDP. The
// admin signs under the new command key only after the delivery window (HANDOVER_DELIVERY_MS,
// at most half the overlap); what is measured is how soon the node can take it.
import { performance } from 'node:perf_hooks';
import { switchIfDue } from '../core/registry/authority-command-keys.js';
import { HANDOVER_DELIVERY_MS, rotateAuthorityKeys } from '../core/genesis/authority-keys.js';
import { loadSecret } from '../core/membership/instance-files.js';
import { authorityRig, EDGE_ID, type AuthorityRig } from '../test/keys/authority-rig.js';
import { printTable } from './table.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const nextLog = (rig: AuthorityRig, match: (r: Record<string, unknown>) => boolean) => {
  const mark = rig.logs.items.length;
  return rig.logs.waitFor((r) => rig.logs.items.indexOf(r) >= mark && match(r), 20_000);
};
const epochOf = (rig: AuthorityRig) => rig.registry.node(EDGE_ID)?.keyEpoch ?? 0;
/** A ping as the admin's signer makes it: under the node's registry epoch, with that epoch's secret. */
const ping = (rig: AuthorityRig) => rig.command(epochOf(rig));
const handled = (rig: AuthorityRig, counter: bigint) => rig.logs.waitFor((r) => r.msg === 'command handled' && r.counter === String(counter), 20_000);

async function times(rounds: number) {
  const membership: number[] = [];
  const genesis: number[] = [];
  const command: number[] = [];
  const handover: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const rig = await authorityRig({ epochOverlapMs: 60_000 });
    try {
      await rig.logs.waitFor((r) => r.msg === 'membership updated');
      await handled(rig, ping(rig));
      // Peers: a plain command, a plain membership change.
      let t = performance.now();
      await handled(rig, ping(rig));
      command.push(performance.now() - t);
      t = performance.now();
      let applied = nextLog(rig, (r) => r.msg === 'membership updated');
      rig.registry.rename(EDGE_ID, `edge-${i}`, 'bench');
      rig.pusher.refresh();
      await applied;
      membership.push(performance.now() - t);
      // rotate (genesis) → the first membership update taken under the new key.
      t = performance.now();
      applied = nextLog(rig, (r) => r.msg === 'membership updated');
      rotateAuthorityKeys(rig.adminDir, rig.registry, { genesis: true, command: false, overlapSeconds: 60, actor: 'bench' });
      rig.pusher.refresh();
      await applied;
      genesis.push(performance.now() - t);
      // rotate (command) → the node has moved (hand-over taken) → a command under the new key accepted.
      t = performance.now();
      const moved = nextLog(rig, (r) => r.msg === 'authority keys handed over');
      rotateAuthorityKeys(rig.adminDir, rig.registry, { genesis: false, command: true, overlapSeconds: 60, actor: 'bench' });
      rig.pusher.refresh();
      await moved;
      await handled(rig, rig.command(epochOf(rig) + 1, loadSecret(rig.adminDir, 'command.key', false)));
      handover.push(performance.now() - t);
    } finally {
      await rig.close();
    }
  }
  return { membership: median(membership), genesis: median(genesis), command: median(command), handover: median(handover) };
}

/** Pings at `perSecond` for `seconds`; in the middle the key is handed over (and, for the command key, switched a second later). */
async function lost(which: 'genesis' | 'command', perSecond: number, seconds: number) {
  const rig = await authorityRig({ epochOverlapMs: 60_000 });
  const counters: bigint[] = [];
  try {
    await rig.logs.waitFor((r) => r.msg === 'membership updated');
    const total = perSecond * seconds;
    let switchAt = Infinity;
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        counters.push(ping(rig));
        if (counters.length === total / 2) {
          const h = rotateAuthorityKeys(rig.adminDir, rig.registry, { genesis: which === 'genesis', command: which === 'command', overlapSeconds: 2, actor: 'bench' });
          rig.pusher.refresh();
          switchAt = h.switchAt;
        }
        // The admin's switch (its genesis service checks every 250 ms).
        if (which === 'command' && Date.now() >= switchAt && switchIfDue(rig.commandKeys, rig.registry, { authorityId: 10, authorityEpoch: 0, now: Date.now() }) !== undefined) {
          rig.authority.commandPublicKey = rig.commandKeys.signingPublic();
          rig.pusher.refresh();
        }
        if (counters.length >= total) {
          clearInterval(timer);
          resolve();
        }
      }, 1000 / perSecond);
    });
    const last = counters.at(-1)!;
    await handled(rig, last).catch(() => {});
    const done = new Set(rig.logs.items.filter((r) => r.msg === 'command handled').map((r) => r.counter));
    return { sent: counters.length, lost: counters.filter((c) => !done.has(String(c))).length, epoch: epochOf(rig) };
  } finally {
    await rig.close();
  }
}

export default async function bench(): Promise<void> {
  const t = await times(5);
  const genesisLost = await lost('genesis', 50, 4);
  const commandLost = await lost('command', 50, 4);
  printTable([
    { measure: 'membership change → taken by the node (peer)', 'ms (median)': t.membership, ratio: 1 },
    { measure: 'rotate genesis key → first membership update taken under it', 'ms (median)': t.genesis, ratio: t.genesis / t.membership },
    { measure: 'one command, sent → executed (peer)', 'ms (median)': t.command, ratio: 1 },
    { measure: 'rotate command key → node takes a command under it', 'ms (median)': t.handover, ratio: t.handover / t.command },
  ]);
  console.log(`\nthe admin signs under the new command key ${HANDOVER_DELIVERY_MS / 1000} s (or half the overlap, if less) after the rotation: the delivery window`);
  console.log(`commands lost while handing over the genesis key under 50/s for 4 s: ${genesisLost.lost} of ${genesisLost.sent}`);
  console.log(`commands lost while handing over the command key under 50/s for 4 s (switch 1 s later): ${commandLost.lost} of ${commandLost.sent} (node at epoch ${commandLost.epoch})`);
}
