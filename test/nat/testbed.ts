// The NAT testbed (issue 11): network namespaces joined as a small internet.
//
//   public bridge 203.0.113.0/24 (TEST-NET-3, inside the namespaces only)
//     admin .1   hub .2
//     NAT A .10 ── onprem   192.168.1.2        MASQUERADE (keeps ports: punching can work)
//     NAT B .20 ── leased   192.168.2.2        MASQUERADE
//     NAT R .30 ── mobile   192.168.3.2        MASQUERADE --random (a new port per destination)
//     NAT C .40 ── office1  192.168.4.2        MASQUERADE, two nodes behind one NAT (a LAN path)
//                  office2  192.168.4.3
//
// Each router forwards LAN → WAN with source NAT and drops anything new arriving on its WAN side
// (INPUT and FORWARD), as a home router does. Dropping in the filter table also keeps an
// unsolicited packet from leaving a conntrack entry behind: with the entry, the router's own
// outbound mapping to that peer would get another port and simultaneous opening would fail.
//
// Names carry the test process's pid, so suites never collide; namespaces of a run whose process
// is gone (a crash, a kill -9) are deleted first.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, stop, watchLines, type Lines } from '../wireguard/netns.js';

const AGENT = join(dirname(fileURLToPath(import.meta.url)), 'udp-agent.js');

export type Host = 'admin' | 'hub' | 'onprem' | 'leased' | 'mobile' | 'office1' | 'office2';
export type Router = 'A' | 'B' | 'R' | 'C';

export const HOSTS: readonly Host[] = ['admin', 'hub', 'onprem', 'leased', 'mobile', 'office1', 'office2'];

const PREFIX = 'ppnat-';
const PUBLIC = '203.0.113';

interface RouterSpec { wan: string; lan: number; random: boolean; hosts: Host[] }
const ROUTERS: Record<Router, RouterSpec> = {
  A: { wan: `${PUBLIC}.10`, lan: 1, random: false, hosts: ['onprem'] },
  B: { wan: `${PUBLIC}.20`, lan: 2, random: false, hosts: ['leased'] },
  R: { wan: `${PUBLIC}.30`, lan: 3, random: true, hosts: ['mobile'] },
  C: { wan: `${PUBLIC}.40`, lan: 4, random: false, hosts: ['office1', 'office2'] },
};
const PUBLIC_HOSTS: Partial<Record<Host, string>> = { admin: `${PUBLIC}.1`, hub: `${PUBLIC}.2` };

export interface NatTestbed {
  /** The namespace a host (or a router: 'nat-A') lives in. */
  ns(host: Host | `nat-${Router}`): string;
  /** The host's own address on its network (private behind a NAT). */
  address(host: Host): string;
  /** The address the public side sees the host's packets come from (its router's WAN address). */
  publicAddress(host: Host): string;
  /** The NAT in front of a host, if any. */
  routerOf(host: Host): Router | undefined;
  /** Makes a router forget every mapping (conntrack -F), as a NAT that timed them out. */
  flush(router: Router): Promise<void>;
  /** Packets a router dropped because they came in unsolicited on its WAN side. */
  unsolicitedDrops(router: Router): Promise<number>;
  /** Resolves once the router's unsolicited-drop count reaches `count` (polled: iptables has no events). */
  dropped(router: Router, count: number, ms?: number): Promise<void>;
  /** A plain UDP socket on `port` inside a host's namespace (udp-agent.ts), stopped by destroy(). */
  udp(host: Host, port: number): Promise<UdpAgent>;
  /** Runs a command inside a host's namespace; rejects on a non-zero exit. */
  exec(host: Host | `nat-${Router}`, cmd: string, args: string[]): Promise<string>;
  destroy(): Promise<void>;
}

export interface UdpAgent {
  lines: Lines;
  send(host: string, port: number, text: string): void;
  /** The first datagram (already received or still to come) whose text matches; its source. */
  received(text: string | RegExp, ms?: number): Promise<{ from: string; text: string }>;
  /** Every datagram received so far. */
  all(): { from: string; text: string }[];
  stop(): Promise<void>;
}

function datagrams(lines: Lines): { from: string; text: string }[] {
  return lines.all.flatMap((l) => {
    try {
      const e = JSON.parse(l);
      return typeof e.from === 'string' ? [e] : [];
    } catch {
      return [];
    }
  });
}

async function must(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Deletes the namespaces of earlier runs whose process no longer exists. */
export async function removeLeftovers(): Promise<string[]> {
  let names: string[];
  try {
    names = readdirSync('/run/netns');
  } catch {
    return [];
  }
  const stale = names.filter((n) => {
    const m = new RegExp(`^${PREFIX}(\\d+)-`).exec(n);
    return m && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]));
  });
  for (const n of stale) await run('ip', ['netns', 'del', n]);
  return stale;
}

export async function createNatTestbed(): Promise<NatTestbed> {
  await removeLeftovers();
  const id = `${PREFIX}${process.pid}`;
  const nsOf = (h: string) => `${id}-${h}`;
  const routerOf = (h: Host) => (Object.keys(ROUTERS) as Router[]).find((r) => ROUTERS[r].hosts.includes(h));
  const made: string[] = [];
  const agents = new Set<UdpAgent>();
  const ip = (args: string[]) => must('ip', args);
  const inNs = (ns: string, cmd: string, args: string[]) => must('ip', ['netns', 'exec', ns, cmd, ...args]);

  const bed: NatTestbed = {
    ns: nsOf,
    address(h) {
      const r = routerOf(h);
      if (!r) return PUBLIC_HOSTS[h]!;
      return `192.168.${ROUTERS[r].lan}.${ROUTERS[r].hosts.indexOf(h) + 2}`;
    },
    publicAddress(h) {
      const r = routerOf(h);
      return r ? ROUTERS[r].wan : PUBLIC_HOSTS[h]!;
    },
    routerOf,
    async flush(r) {
      // conntrack exits 1 when there was nothing to flush; both are fine.
      await run('ip', ['netns', 'exec', nsOf(`nat-${r}`), 'conntrack', '-F']);
    },
    async unsolicitedDrops(r) {
      let n = 0;
      for (const chain of ['INPUT', 'FORWARD']) {
        const out = await inNs(nsOf(`nat-${r}`), 'iptables', ['-nvxL', chain]);
        for (const line of out.split('\n')) if (/\bDROP\b/.test(line)) n += Number(line.trim().split(/\s+/)[0]);
      }
      return n;
    },
    async dropped(r, count, ms = 5000) {
      const until = Date.now() + ms;
      for (;;) {
        const n = await bed.unsolicitedDrops(r);
        if (n >= count) return;
        if (Date.now() > until) throw new Error(`NAT ${r} dropped ${n} unsolicited packets in ${ms} ms, not ${count}`);
        await new Promise((res) => setTimeout(res, 20));
      }
    },
    async udp(h, port) {
      const child = spawn('ip', ['netns', 'exec', nsOf(h), process.execPath, AGENT, String(port)], { stdio: ['pipe', 'pipe', 'pipe'] });
      const lines = watchLines(child);
      const agent: UdpAgent = {
        lines,
        send: (host, p, text) => child.stdin!.write(`send ${host} ${p} ${text}\n`),
        async received(text, ms = 10_000) {
          const match = (t: string) => (typeof text === 'string' ? t === text : text.test(t));
          const line = await lines.waitFor((l) => datagrams({ all: [l] } as Lines).some((d) => match(d.text)), ms, `${h}:${port} to receive ${text}`);
          return JSON.parse(line);
        },
        all: () => datagrams(lines),
        async stop() {
          agents.delete(agent);
          child.stdin!.end();
          await stop(child);
        },
      };
      agents.add(agent);
      try {
        await lines.waitFor(/"ready"/, 10_000, `a UDP socket on ${h}:${port}`);
      } catch (err) {
        await agent.stop();
        throw err;
      }
      return agent;
    },
    exec: (h, cmd, args) => inNs(nsOf(h), cmd, args),
    async destroy() {
      await Promise.all([...agents].map((a) => a.stop()));
      for (const ns of made.reverse()) await run('ip', ['netns', 'del', ns]);
      made.length = 0;
    },
  };

  const addNs = async (name: string) => {
    await ip(['netns', 'add', nsOf(name)]);
    made.push(nsOf(name));
    await ip(['-n', nsOf(name), 'link', 'set', 'lo', 'up']);
  };
  /** A veth from `inside` (named `dev` there) into bridge `bridge` of namespace `switchNs`. */
  const plug = async (inside: string, dev: string, switchNs: string, bridge: string, port: string) => {
    await ip(['link', 'add', dev, 'netns', nsOf(inside), 'type', 'veth', 'peer', 'name', port, 'netns', nsOf(switchNs)]);
    await ip(['-n', nsOf(switchNs), 'link', 'set', port, 'master', bridge, 'up']);
    await ip(['-n', nsOf(inside), 'link', 'set', dev, 'up']);
  };

  try {
    await addNs('pub');
    await ip(['-n', nsOf('pub'), 'link', 'add', 'br0', 'type', 'bridge']);
    await ip(['-n', nsOf('pub'), 'link', 'set', 'br0', 'up']);
    for (const [h, addr] of Object.entries(PUBLIC_HOSTS) as [Host, string][]) {
      await addNs(h);
      await plug(h, 'eth0', 'pub', 'br0', `p-${h}`);
      await ip(['-n', nsOf(h), 'addr', 'add', `${addr}/24`, 'dev', 'eth0']);
    }
    for (const [r, spec] of Object.entries(ROUTERS) as [Router, RouterSpec][]) {
      const rn = `nat-${r}`;
      await addNs(rn);
      await plug(rn, 'wan', 'pub', 'br0', `p-nat${r}`);
      await ip(['-n', nsOf(rn), 'addr', 'add', `${spec.wan}/24`, 'dev', 'wan']);
      await ip(['-n', nsOf(rn), 'link', 'add', 'lan', 'type', 'bridge']);
      await ip(['-n', nsOf(rn), 'link', 'set', 'lan', 'up']);
      await ip(['-n', nsOf(rn), 'addr', 'add', `192.168.${spec.lan}.1/24`, 'dev', 'lan']);
      for (const [i, h] of spec.hosts.entries()) {
        await addNs(h);
        await plug(h, 'eth0', rn, 'lan', `l${i}`);
        await ip(['-n', nsOf(h), 'addr', 'add', `${bed.address(h)}/24`, 'dev', 'eth0']);
        await ip(['-n', nsOf(h), 'route', 'add', 'default', 'via', `192.168.${spec.lan}.1`]);
      }
      await inNs(nsOf(rn), 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
      await inNs(nsOf(rn), 'iptables', ['-t', 'nat', '-A', 'POSTROUTING', '-o', 'wan', '-j', 'MASQUERADE', ...(spec.random ? ['--random'] : [])]);
      for (const chain of ['INPUT', 'FORWARD']) {
        await inNs(nsOf(rn), 'iptables', ['-A', chain, '-i', 'wan', '-m', 'conntrack', '--ctstate', 'NEW,INVALID', '-j', 'DROP']);
      }
    }
  } catch (err) {
    await bed.destroy();
    throw err;
  }
  return bed;
}

let shared: Promise<NatTestbed> | undefined;

/**
 * The NAT suite's one testbed: built on first use, every router's mappings forgotten for each
 * suite that asks (a clean start), destroyed once after the whole run. Suites leave it as they
 * found it (rules and qdiscs they add, they remove).
 */
export async function sharedNatTestbed(): Promise<NatTestbed> {
  shared ??= createNatTestbed();
  const bed = await shared;
  await Promise.all((Object.keys(ROUTERS) as Router[]).map((r) => bed.flush(r)));
  return bed;
}

// A root-level hook, registered when a test file first imports this module (mocha defines
// `after` while it loads files; the bench imports it without mocha).
const rootAfter = (globalThis as { after?: (fn: () => Promise<void>) => void }).after;
rootAfter?.(async () => {
  if (shared) await (await shared.catch(() => undefined))?.destroy();
  shared = undefined;
});
