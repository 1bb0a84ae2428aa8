// Paths across real NATs (issue 11), on the NAT testbed (root, network namespaces): one mesh
// node per host with its paths owned, the membership laid out directly by the test (joining by
// genesis behind NAT is another suite's). Every node is reachable through the hub; onprem and
// leased (two MASQUERADE NATs) go direct on their own; the node behind `MASQUERADE --random`
// stays relayed to them and says why; the two nodes behind one NAT find their LAN path; a direct
// path that is cut falls back to the relay, commands still pass, and it returns once mended.
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatKey, generateSecret, publicKeyOf } from '../../core/keys/index.js';
import type { MeshPeer } from '../../core/mesh/peer.js';
import { requireNetns } from '../support/root.js';
import { stop, watchLines, type Lines } from '../wireguard/netns.js';
import { ECHO_PORT, type NatNodeConfig } from './nat-node.js';
import { createNatTestbed, HOSTS, type Host, type NatTestbed } from './testbed.js';

const NODE = join(dirname(fileURLToPath(import.meta.url)), 'nat-node.js');
const WG_PORT = 51820;
const MESH: Record<Host, string> = {
  hub: '10.8.0.1', onprem: '10.8.0.2', leased: '10.8.0.3', mobile: '10.8.0.4', office1: '10.8.0.5', office2: '10.8.0.6', admin: '10.8.0.10',
};

interface Node {
  host: Host;
  child: ChildProcess;
  lines: Lines;
  /** Sends `text` to `to`'s echo port until it comes back (a lost first datagram is sent again). */
  echo(to: Host, text: string, ms?: number): Promise<void>;
  peer(name: Host): Promise<Record<string, any>>;
  /** The first change of this node's path to `peer` for `reason`, seen from line `since` on. */
  pathChange(peer: Host, reason: string, ms: number, since?: number): Promise<Record<string, any>>;
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
    async stop() {
      child.stdin!.end();
      await stop(child);
    },
  };
}

describe('NAT paths on the testbed (membership laid out directly, not by genesis)', function () {
  this.timeout(120_000);
  let bed: NatTestbed;
  const nodes = new Map<Host, Node>();
  const node = (h: Host) => nodes.get(h)!;

  before(async function () {
    requireNetns(this, ['iptables', 'conntrack']);
    bed = await createNatTestbed();
    const keys = new Map(HOSTS.map((h) => [h, generateSecret()]));
    const asPeer = (h: Host, self: Host): MeshPeer => ({
      name: h, publicKey: formatKey(publicKeyOf(keys.get(h)!)), address: MESH[h], allowedIPs: [`${MESH[h]}/32`],
      // Only the hub has a known address; everyone else starts relayed through it. The hub
      // learns where each spoke is from its authenticated datagrams.
      ...(h === 'hub' ? { endpoint: `${bed.address('hub')}:${WG_PORT}` } : self === 'hub' ? {} : { via: 'hub' }),
    });
    try {
      for (const h of HOSTS) {
        nodes.set(h, await startNode(bed, {
          host: h, name: h, address: MESH[h], privateKey: formatKey(keys.get(h)!), listenPort: WG_PORT,
          peers: HOSTS.filter((o) => o !== h).map((o) => asPeer(o, h)), relay: h === 'hub',
        }));
      }
    } catch (err) {
      await Promise.all([...nodes.values()].map((n) => n.stop()));
      await bed.destroy();
      throw err;
    }
  });
  after(async () => {
    await Promise.all([...nodes.values()].map((n) => n.stop()));
    await bed?.destroy();
  });

  it('every node is reachable from the admin', async () => {
    for (const h of HOSTS.filter((x) => x !== 'admin')) await node('admin').echo(h, `hello ${h}`);
  });

  it('onprem and leased, behind two MASQUERADE NATs, go direct on their own', async () => {
    await node('onprem').echo('leased', 'onprem to leased');
    await Promise.all([node('onprem').pathChange('leased', 'upgrade', 30_000), node('leased').pathChange('onprem', 'upgrade', 30_000)]);
    expect(await node('onprem').peer('leased')).to.include({ path: 'direct', endpoint: `${bed.publicAddress('leased')}:${WG_PORT}` });
    expect(await node('leased').peer('onprem')).to.include({ path: 'direct', endpoint: `${bed.publicAddress('onprem')}:${WG_PORT}` });
    await node('onprem').echo('leased', 'onprem to leased, direct');
  });

  it('the node behind --random stays relayed to onprem and says why', async () => {
    await node('onprem').echo('mobile', 'onprem to mobile');
    // Probing gives up after its punching window; until then the answer is "probing".
    const until = Date.now() + 40_000;
    let seen = await node('onprem').peer('mobile');
    while (seen.whyNotDirect !== 'blocked by NAT' && Date.now() < until) {
      await node('onprem').lines.waitForNext(() => true, 2000).catch(() => {});
      seen = await node('onprem').peer('mobile');
    }
    expect(seen).to.include({ path: 'relayed', whyNotDirect: 'blocked by NAT' });
    await node('onprem').echo('mobile', 'onprem to mobile, still relayed');
  });

  it('the two nodes behind one NAT find their LAN path', async () => {
    await node('office1').echo('office2', 'office1 to office2');
    await node('office1').pathChange('office2', 'upgrade', 30_000);
    expect(await node('office1').peer('office2')).to.include({ path: 'direct', endpoint: `${bed.address('office2')}:${WG_PORT}` });
  });

  it('a cut direct path falls back to the relay, commands still pass, and it returns once mended', async () => {
    const onprem = node('onprem');
    await onprem.pathChange('leased', 'upgrade', 30_000);
    const since = onprem.lines.all.length;
    const rule = ['-I', 'FORWARD', '-d', bed.publicAddress('leased'), '-j', 'DROP'];
    await bed.exec('nat-A', 'iptables', rule);
    try {
      await onprem.pathChange('leased', 'direct path died', 15_000, since);
      await onprem.echo('leased', 'while the direct path is cut');
      expect(await onprem.peer('leased')).to.include({ path: 'relayed' });
    } finally {
      await bed.exec('nat-A', 'iptables', ['-D', ...rule.slice(1)]);
    }
    await onprem.pathChange('leased', 'upgrade', 60_000, since);
    await onprem.echo('leased', 'direct again');
  });
});
