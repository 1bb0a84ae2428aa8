// A fleet on the NAT testbed for the NAT tests and bench: one mesh node per host (nat-node.ts)
// with its paths owned, the membership laid out directly (not by genesis): only the hub has a
// known address, everyone else starts relayed through it, and the hub learns where each spoke is
// from its authenticated datagrams.
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatKey, generateSecret, publicKeyOf } from '../../core/keys/index.js';
import type { MeshPeer } from '../../core/mesh/peer.js';
import { stop, watchLines, type Lines } from '../wireguard/netns.js';
import { ECHO_PORT, type NatNodeConfig } from './nat-node.js';
import type { Host, NatTestbed } from './testbed.js';

const NODE = join(dirname(fileURLToPath(import.meta.url)), 'nat-node.js');
export const WG_PORT = 51820;
export const MESH: Record<Host, string> = {
  hub: '10.8.0.1', onprem: '10.8.0.2', leased: '10.8.0.3', mobile: '10.8.0.4', office1: '10.8.0.5', office2: '10.8.0.6', admin: '10.8.0.10',
};

export interface Node {
  host: Host;
  child: ChildProcess;
  lines: Lines;
  /** Sends `text` to `to`'s echo port until it comes back (a lost first datagram is sent again). */
  echo(to: Host, text: string, ms?: number): Promise<void>;
  peer(name: Host): Promise<Record<string, any>>;
  /** The first change of this node's path to `peer` for `reason`, seen from line `since` on. */
  pathChange(peer: Host, reason: string, ms: number, since?: number): Promise<Record<string, any>>;
  /** Sends `size`-byte datagrams to `to`'s sink for `ms` as fast as the mesh takes them; how many went. */
  blast(to: Host, size: number, ms: number): Promise<number>;
  /** What this node's sink has received so far. */
  count(): Promise<{ received: number; bytes: number }>;
  stop(): Promise<void>;
}

const parse = (l: string) => {
  try {
    return JSON.parse(l) as Record<string, any>;
  } catch {
    return {};
  }
};

async function startNode(bed: NatTestbed, config: NatNodeConfig & { host: Host }): Promise<Node> {
  const child = spawn('ip', ['netns', 'exec', bed.ns(config.host), process.execPath, NODE], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines = watchLines(child);
  const write = (o: object) => child.stdin!.write(`${JSON.stringify(o)}\n`);
  write(config);
  await lines.waitFor((l) => /"event":"(ready|error)"/.test(l), 15_000, `${config.host} to start`).then((l) => {
    if (parse(l).event === 'error') throw new Error(`${config.host}: ${parse(l).message}`);
  });
  return {
    host: config.host, child, lines,
    async echo(to, text, ms = 20_000) {
      const back = lines.waitForNext((l) => parse(l).event === 'reply' && parse(l).text === text, ms, `"${text}" back from ${to} at ${config.host}`);
      const send = () => write({ send: { to: MESH[to], port: ECHO_PORT, text } });
      const again = setInterval(send, 1000);
      send();
      try {
        await back;
      } finally {
        clearInterval(again);
      }
    },
    async peer(name) {
      const answer = lines.waitForNext((l) => parse(l).event === 'status', 5000, `${config.host}'s status`);
      write({ status: true });
      return (parse(await answer).status.paths.peers as Record<string, any>[]).find((p) => p.name === name)!;
    },
    async pathChange(peer, reason, ms, since = 0) {
      return parse(await lines.waitFor((l) => parse(l).event === 'path' && parse(l).peer === peer && parse(l).reason === reason, ms,
        `${config.host}'s path to ${peer}: ${reason}`, since));
    },
    async blast(to, size, ms) {
      const done = lines.waitForNext((l) => parse(l).event === 'blasted', ms + 30_000, `${config.host}'s blast`);
      write({ blast: { to: MESH[to], size, ms } });
      return parse(await done).sent as number;
    },
    async count() {
      const answer = lines.waitForNext((l) => parse(l).event === 'count', 5000, `${config.host}'s count`);
      write({ count: true });
      const c = parse(await answer);
      return { received: c.received as number, bytes: c.bytes as number };
    },
    async stop() {
      child.stdin!.end();
      await stop(child);
    },
  };
}

/** Starts a node on each of `hosts`, the hub first (the others' keepalives find it up). */
export async function startFleet(bed: NatTestbed, hosts: readonly Host[]): Promise<Map<Host, Node>> {
  const keys = new Map(hosts.map((h) => [h, generateSecret()]));
  const asPeer = (h: Host, self: Host): MeshPeer => ({
    name: h, publicKey: formatKey(publicKeyOf(keys.get(h)!)), address: MESH[h], allowedIPs: [`${MESH[h]}/32`],
    ...(h === 'hub' ? { endpoint: `${bed.address('hub')}:${WG_PORT}` } : self === 'hub' ? {} : { via: 'hub' }),
  });
  const nodes = new Map<Host, Node>();
  try {
    for (const h of [...hosts].sort((a, b) => Number(b === 'hub') - Number(a === 'hub'))) {
      nodes.set(h, await startNode(bed, {
        host: h, name: h, address: MESH[h], privateKey: formatKey(keys.get(h)!), listenPort: WG_PORT,
        peers: hosts.filter((o) => o !== h).map((o) => asPeer(o, h)), relay: h === 'hub',
      }));
    }
  } catch (err) {
    await Promise.all([...nodes.values()].map((n) => n.stop()));
    throw err;
  }
  return nodes;
}
