// A LAN of network namespaces for genesis tests: one namespace per host, each with a veth into a
// bridge in a namespace of its own, addresses 192.0.2.x/24 (TEST-NET-1, inside the namespaces
// only) with the broadcast address set, so beacons travel by real broadcast.
import { run } from '../wireguard/netns.js';

export interface Lan {
  /** The namespace a host lives in. */
  ns(host: string): string;
  address(host: string): string;
  destroy(): Promise<void>;
}

async function must(args: string[]): Promise<void> {
  const r = await run('ip', args);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
}

/** `hosts` get 192.0.2.1, .2, … in order; `id` keeps names unique (link names ≤ 15 characters). */
export async function createLan(id: string, hosts: string[]): Promise<Lan> {
  const switchNs = `ppng-${id}-sw`;
  const nsOf = (h: string) => `ppng-${id}-${h}`;
  const made: string[] = [];
  const lan: Lan = {
    ns: nsOf,
    address: (h) => `192.0.2.${hosts.indexOf(h) + 1}`,
    async destroy() {
      for (const ns of made.reverse()) await run('ip', ['netns', 'del', ns]);
    },
  };
  try {
    await must(['netns', 'add', switchNs]);
    made.push(switchNs);
    await must(['-n', switchNs, 'link', 'add', 'br0', 'type', 'bridge']);
    await must(['-n', switchNs, 'link', 'set', 'br0', 'up']);
    for (const [i, host] of hosts.entries()) {
      const ns = nsOf(host);
      await must(['netns', 'add', ns]);
      made.push(ns);
      const port = `g${id}p${i}`;
      await must(['link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', port, 'netns', switchNs]);
      await must(['-n', switchNs, 'link', 'set', port, 'master', 'br0', 'up']);
      await must(['-n', ns, 'addr', 'add', `${lan.address(host)}/24`, 'brd', '+', 'dev', 'eth0']);
      await must(['-n', ns, 'link', 'set', 'eth0', 'up']);
      await must(['-n', ns, 'link', 'set', 'lo', 'up']);
    }
  } catch (err) {
    await lan.destroy();
    throw err;
  }
  return lan;
}
