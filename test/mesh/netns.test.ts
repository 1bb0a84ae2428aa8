// ppn0 against stock WireGuard in network namespaces (root only): two namespaces joined by veth
// (192.0.2.1 in A, 192.0.2.2 in B), Debian's wireguard-go in A, our meshes in child processes.
//   OS mode: a mesh in mode 'os' on a wireguard-go interface configured from `ppn wg-config`'s
//   file binds real sockets on the interface's address and talks to a userspace node in B.
//   The hub: a stock wireguard-go peer that knows only the hub reaches a userspace spoke by
//   classic routing (the hub can read it), while two spokes talk through the same hub's relay
//   (it cannot).
import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSecret } from '../../core/membership/instance-files.js';
import { saveMembership } from '../../core/membership/membership.js';
import { projectRoot } from '../../core/project-root.js';
import { formatKey, generateSecret, parseKey, publicKeyOf } from '../../core/keys/index.js';
import { parseWgQuick } from '../../core/wireguard/config.js';
import { uapiGet } from '../../core/wireguard/uapi.js';
import { scratchDir } from '../support/pipeline.js';
import { requireNetns } from '../support/root.js';
import { createNetnsPair, run, startWireguardGo, udpEchoFrom, type NetnsPair, type WireguardGo } from '../wireguard/netns.js';
import { startMeshChild, type MeshChild } from './child.js';
import { membershipOf } from './support.js';

const ID = `m${String(process.pid).slice(-4)}`;
const MAIN = join(projectRoot(), 'dist/core/cli/main.js');
const ECHO = 7000;

function identity() {
  const secret = generateSecret();
  return { privateKey: formatKey(secret), publicKey: formatKey(publicKeyOf(secret)), secret };
}

async function must(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

describe('mesh with stock WireGuard (network namespaces)', function () {
  this.timeout(90_000);
  let ns: NetnsPair | undefined;
  const wgs: WireguardGo[] = [];
  const children: MeshChild[] = [];

  before(async function () {
    requireNetns(this, ['wireguard-go', 'wg', 'wg-quick', 'ping']);
    ns = await createNetnsPair(ID);
  });
  afterEach(async () => {
    await Promise.all(children.splice(0).map((c) => c.stop()));
    await Promise.all(wgs.splice(0).map((w) => w.stop()));
  });
  after(async () => {
    await ns?.destroy();
  });

  it('OS mode: a mesh on a wireguard-go interface set up from `ppn wg-config` talks to a userspace node', async () => {
    const dir = scratchDir('os-mode');
    const iface = `ppnos${ID}`;
    const leased = identity();
    // The OS-mode node (onprem, namespace A): its key and membership, as the registry writes them.
    const secret = loadSecret(dir, 'identity.key', true);
    saveMembership(dir, membershipOf('onprem', '10.8.0.2', `${ns!.addressA}:51820`, [
      { name: 'leased', publicKey: leased.publicKey, address: '10.8.0.3', allowedIPs: ['10.8.0.3/32'], endpoint: `${ns!.addressB}:51821` },
    ]));
    const file = join(dir, `${iface}.conf`);
    const written = await run(process.execPath, [MAIN, 'wg-config', '--instance', dir, '--out', file]);
    expect(written.code, written.stderr).to.equal(0);

    // What wg-quick would do with it: the interface, its address, `wg setconf` with the
    // wg-quick-only lines stripped, and a route per AllowedIPs.
    const conf = parseWgQuick(readFileSync(file, 'utf8'), file);
    const address = /^Address = (.+)$/m.exec(readFileSync(file, 'utf8'))![1];
    const wg = await startWireguardGo(ns!.a, iface, address);
    wgs.push(wg);
    const stripped = join(dir, `${iface}.wg`);
    writeFileSync(stripped, await must('wg-quick', ['strip', file]), { mode: 0o600 });
    await must('ip', ['netns', 'exec', ns!.a, 'wg', 'setconf', iface, stripped]);
    for (const peer of conf.peers) for (const a of peer.allowedIPs) await must('ip', ['-n', ns!.a, 'route', 'add', a, 'dev', iface]);
    const device = await uapiGet(iface);
    expect(device.device).to.include({ listen_port: '51820' });
    expect(device.peers[0].public_key).to.equal(parseKey(leased.publicKey).toString('hex'));

    const userspace = await startMeshChild(ns!.b, [{
      name: 'leased', mode: 'userspace', address: '10.8.0.3', privateKey: leased.privateKey, listenPort: 51821, bindAddress: ns!.addressB,
      peers: [{ name: 'onprem', publicKey: formatKey(publicKeyOf(secret)), address: '10.8.0.2', allowedIPs: ['10.8.0.2/32'], endpoint: `${ns!.addressA}:51820` }],
      echo: ECHO,
    }]);
    children.push(userspace);
    const os = await startMeshChild(ns!.a, [{
      name: 'onprem', mode: 'os', address: '10.8.0.2', privateKey: formatKey(secret), listenPort: 51820, bindAddress: ns!.addressA, peers: [], echo: ECHO,
    }]);
    children.push(os);

    // Real sockets on 10.8.0.2 in A, through the kernel's routes and wireguard-go, to our device in B; and back.
    expect((await os.echo('onprem', '10.8.0.3', ECHO, 'from the OS interface')).from).to.deep.equal({ address: '10.8.0.3', port: ECHO });
    expect((await userspace.echo('leased', '10.8.0.2', ECHO, 'to the OS interface')).from).to.deep.equal({ address: '10.8.0.2', port: ECHO });
    const s = await os.status('onprem');
    expect(s).to.include({ mode: 'os', address: '10.8.0.2', sockets: 2 });
    const after = await uapiGet(iface);
    expect(Number(after.peers[0].rx_bytes)).to.be.above(0);
    expect(after.peers[0].endpoint).to.equal(`${ns!.addressB}:51821`);
  });

  it('the hub routes a stock wireguard-go peer to a userspace spoke classically, and relays between spokes', async () => {
    const iface = `ppnst${ID}`;
    const [hub, spoke, other, stock] = [identity(), identity(), identity(), identity()];
    const B = ns!.addressB;
    // The stock peer (namespace A) knows only the hub, which it routes the whole mesh to.
    const wg = await startWireguardGo(ns!.a, iface, '10.8.0.50/24');
    wgs.push(wg);
    await wg.configure({
      privateKey: stock.secret, listenPort: 51820,
      peers: [{ publicKey: parseKey(hub.publicKey), endpoint: `${B}:51820`, allowedIPs: ['10.8.0.0/24'] }],
    });
    const peer = (name: string, who: { publicKey: string }, address: string, extra: object) =>
      ({ name, publicKey: who.publicKey, address, allowedIPs: [`${address}/32`], ...extra });
    // Hub and spokes in namespace B; the spokes know each other only via the hub, and `spoke`
    // routes the stock peer's address to the hub.
    const meshes = await startMeshChild(ns!.b, [
      {
        name: 'hub', mode: 'userspace', address: '10.8.0.1', privateKey: hub.privateKey, listenPort: 51820, bindAddress: '0.0.0.0',
        forwarding: true, relay: true, tap: 'MARKER',
        peers: [
          peer('spoke', spoke, '10.8.0.3', { endpoint: `${B}:51823` }),
          peer('other', other, '10.8.0.4', { endpoint: `${B}:51824` }),
          peer('stock', stock, '10.8.0.50', { endpoint: `${ns!.addressA}:51820` }),
        ],
      },
      {
        name: 'spoke', mode: 'userspace', address: '10.8.0.3', privateKey: spoke.privateKey, listenPort: 51823, bindAddress: B, echo: ECHO,
        peers: [
          { ...peer('hub', hub, '10.8.0.1', { endpoint: `${B}:51820` }), allowedIPs: ['10.8.0.1/32', '10.8.0.50/32'] },
          peer('other', other, '10.8.0.4', { via: 'hub' }),
        ],
      },
      {
        name: 'other', mode: 'userspace', address: '10.8.0.4', privateKey: other.privateKey, listenPort: 51824, bindAddress: B,
        peers: [peer('hub', hub, '10.8.0.1', { endpoint: `${B}:51820` }), peer('spoke', spoke, '10.8.0.3', { via: 'hub' })],
      },
    ]);
    children.push(meshes);

    // Spoke to spoke through the relay: the hub passes the datagrams on and reads none of it.
    await meshes.echo('other', '10.8.0.3', ECHO, 'MARKER between spokes');
    const relayed = await meshes.status('hub');
    expect(relayed.relay.framesRelayed).to.be.at.least(4);
    expect(relayed.tapped).to.equal(0);
    expect(relayed.forwarded).to.equal(0);

    // The stock peer to the spoke: UDP and ping, routed by the hub's AllowedIPs.
    const echo = await udpEchoFrom(ns!.a, '10.8.0.50', '10.8.0.3', ECHO, { count: 3, prefix: 'MARKER-stock-' });
    expect(echo.code, JSON.stringify(echo)).to.equal(0);
    expect(echo.from).to.equal(`10.8.0.3:${ECHO}`);
    const ping = await run('ip', ['netns', 'exec', ns!.a, 'ping', '-c', '2', '-i', '0.2', '-W', '5', '10.8.0.3']);
    expect(ping.stdout, ping.stderr).to.match(/2 packets transmitted, 2 received/);
    // Classic routing: the hub decrypted the stock peer's datagrams and the spoke's answers.
    const classic = await meshes.status('hub');
    expect(classic.tapped).to.equal(6);
    expect(classic.forwarded).to.equal(10);
    expect((await uapiGet(iface)).peers[0].last_handshake_time_sec).to.not.equal('0');
  });
});
