// Genesis on a real LAN of network namespaces (root only): an authority (admin) process, a hub
// that joins by self-genesis and claim, nodes that join by the beacon (real broadcast), a forger.
// Every host is its own namespace on one bridge; every node runs as its own `ppn` process.
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { saveGenesisState } from '../../core/genesis/authority-pin.js';
import { normaliseCode } from '../../core/genesis/code.js';
import { loadSecret } from '../../core/membership/instance-files.js';
import { loadMembership } from '../../core/membership/membership.js';
import { projectRoot } from '../../core/project-root.js';
import { formatKey, generateSecret, publicKeyOf } from '../../core/keys/index.js';
import { openRegistry } from '../../core/registry/registry.js';
import { scratchDir } from '../support/pipeline.js';
import { requireNetns } from '../support/root.js';
import { run, stop, watchLines, type Lines, type RunResult } from '../wireguard/netns.js';
import { createLan, type Lan } from './lan.js';

const cli = join(projectRoot(), 'dist/core/cli/main.js');
const tools = join(projectRoot(), 'dist/test/genesis/ns-tools.js');
type Record_ = Record<string, unknown> & { msg?: string };

interface Proc {
  child: ChildProcess;
  lines: Lines;
  /** The first JSON log record (seen or to come) with this message that matches. */
  log(msg: string, match?: (r: Record_) => boolean, ms?: number): Promise<Record_>;
}

describe('genesis on a LAN of network namespaces (processes, real broadcast)', function () {
  this.timeout(180_000);
  let lan: Lan;
  let root: string;
  const procs: Proc[] = [];
  let admin: Proc;
  let hub: Proc;
  let f8Url = '';
  const dir = (host: string) => join(root, host);
  const adminPipeline = () => join(root, 'admin.pipeline.json');
  const nodeKey = (host: string) => formatKey(publicKeyOf(loadSecret(dir(host), 'identity.key', false)));

  const start = (host: string, args: string[]): Proc => {
    const child = spawn('ip', ['netns', 'exec', lan.ns(host), process.execPath, cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines = watchLines(child);
    const proc: Proc = {
      child,
      lines,
      log: async (msg, match = () => true, ms = 15_000) => {
        const test = (l: string) => {
          try {
            const r = JSON.parse(l) as Record_;
            return r.msg === msg && match(r);
          } catch {
            return false;
          }
        };
        return JSON.parse(await lines.waitFor(test, ms, `${host}: log '${msg}'`));
      },
    };
    procs.push(proc);
    return proc;
  };
  /** A one-shot command in a host's namespace (or in the root namespace for file-only commands). */
  const ppn = (host: string | null, ...args: string[]): Promise<RunResult> =>
    host ? run('ip', ['netns', 'exec', lan.ns(host), process.execPath, cli, ...args], 30_000) : run(process.execPath, [cli, ...args], 30_000);
  const tool = async (host: string, ...args: string[]) => {
    const r = await run('ip', ['netns', 'exec', lan.ns(host), process.execPath, tools, ...args], 30_000);
    if (r.code !== 0) throw new Error(`ns-tools ${args[0]} failed: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop()!);
  };
  const f8Token = () => readFileSync(join(dir('admin'), 'f8.token'), 'utf8').trim();
  const f8 = (text: string) => tool('admin', 'f8', f8Url, f8Token(), text);
  const writeAdminPipeline = (beacon: boolean) => {
    const p = JSON.parse(readFileSync(join(projectRoot(), 'pipelines/os-network-admin.json'), 'utf8'));
    delete p.$schema;
    p.stages.f8.config = { port: 0 };
    p.stages.genesis.config = { admission: 'approve', beacon: { enabled: beacon, everyMs: 500 }, sync: { pollMs: 100, everyMs: 3000 } };
    writeFileSync(adminPipeline(), JSON.stringify(p, null, 2));
  };
  const startAdmin = async () => {
    admin = start('admin', ['run', adminPipeline(), '--instance', dir('admin'), '--no-watch', '--log-level', 'debug']);
    f8Url = String((await admin.log('F8 terminal listening')).url);
    await admin.log('join endpoint listening');
    await admin.log('control endpoint on loopback');
  };
  const reloadAdmin = async (beacon: boolean) => {
    writeAdminPipeline(beacon);
    const r = await ppn('admin', 'reload', '--instance', dir('admin'));
    expect(r.stdout, r.stderr).to.match(/^reloaded: .*changed \[genesis\]/);
  };
  const provision = async (host: string, token: boolean) => {
    const bundle = join(root, `${host}.bundle.json`);
    expect((await ppn(null, 'provision', 'export', '--instance', dir('admin'), '--out', bundle, ...(token ? ['--token'] : []))).code).to.equal(0);
    expect((await ppn(null, 'provision', '--authority', bundle, '--instance', dir(host))).code).to.equal(0);
  };
  const joinNode = (host: string, ...extra: string[]) => start(host, ['join', '--instance', dir(host), '--scan-window', '30', '--poll', '200', ...extra]);
  const exited = (p: Proc) => new Promise<number | null>((resolve) => (p.child.exitCode !== null ? resolve(p.child.exitCode) : p.child.once('exit', resolve)));
  const runNode = async (host: string, role = 'os-infrastructure') => {
    const p = start(host, ['run', '--role', role, '--instance', dir(host), '--no-watch']);
    await p.log('pipeline running');
    return p;
  };
  const registryNodes = async () => JSON.parse((await ppn(null, 'nodes', 'list', '--instance', dir('admin'), '--json')).stdout) as { id: number; name: string; publicKey: string; status: string }[];
  let nodes: Record<string, Proc> = {};

  before(async function () {
    requireNetns(this);
    root = scratchDir('genesis-netns');
    lan = await createLan(randomBytes(2).toString('hex'), ['admin', 'hub', 'n1', 'n2', 'n3', 'n4', 'n5', 'forger']);
    const init = await ppn(null, 'authority', 'init', '--instance', dir('admin'), '--listen', `${lan.address('admin')}:51820`);
    expect(init.code, init.stderr).to.equal(0);
    writeAdminPipeline(true);
    await startAdmin();
  });

  after(async () => {
    await Promise.all(procs.map((p) => stop(p.child)));
    await lan?.destroy();
  });

  it('self-genesis: a node without a bundle waits for a claim; a wrong code is refused and counted, the right one pins the authority', async () => {
    const joining = joinNode('hub', '--role', 'cloud-relay', '--name', 'cloud-relay');
    const code = (await joining.lines.waitFor(/^claim code: /, 10_000)).slice('claim code: '.length);
    await joining.lines.waitFor(/^self-genesis: waiting for an admin's claim on TCP 0\.0\.0\.0:9443/, 5000);
    const target = `${lan.address('hub')}:9443`;

    const wrong = await ppn('admin', 'claim', target, '--code', 'ABCD-EFGH', '--instance', dir('admin'));
    expect(wrong.code).to.equal(1);
    expect(wrong.stderr).to.include('the node refused the claim: wrong claim code');
    await joining.lines.waitFor(/^claim from 192\.0\.2\.1:\d+ rejected \(wrong-code\)/, 5000);

    const right = await ppn('admin', 'claim', target, '--code', code.toLowerCase(), '--instance', dir('admin'));
    expect(right.code, right.stderr).to.equal(0);
    expect(right.stdout).to.include(`claimed the node with key ${nodeKey('hub')}`);
    expect(await exited(joining)).to.equal(0);
    expect(joining.lines.all.join('\n')).to.match(/1 claim attempt\(s\) were refused before/);
    expect(joining.lines.all).to.include('joined as cloud-relay (node 1, 10.8.0.1, cloud-relay); peers: admin');
    expect(joining.lines.all.join('\n')).to.not.include(normaliseCode(code));
    hub = await runNode('hub', 'cloud-relay');
    await admin.log('authority peers updated', (r) => (r.peers as string[]).includes('cloud-relay'));
  });

  it('a provisioned node hears the beacon by broadcast, waits with the same join code on both screens, is approved, joins and executes a command; the hub adds it live', async () => {
    await provision('n1', false);
    const joining = joinNode('n1');
    await joining.lines.waitFor((l) => l === 'beacon from the authority at 192.0.2.1: join endpoint 192.0.2.1:51820', 10_000);
    const waiting = await joining.lines.waitFor(/^waiting for approval as node \d+: join code /, 10_000);
    const [, id, code] = /node (\d+): join code (\S+)/.exec(waiting)!;
    const pending = await admin.log('join request pending: compare the code with the node and approve it');
    expect(pending).to.include({ nodeId: Number(id), name: 'n1', code });
    const list = await ppn(null, 'nodes', 'list', '--instance', dir('admin'));
    expect(list.stdout).to.match(new RegExp(`^${id} +10\\.8\\.0\\.${id} +n1 +os-infrastructure +pending +${code}`, 'm'));

    const approved = await ppn(null, 'nodes', 'approve', code.toLowerCase(), '--instance', dir('admin'));
    expect(approved.stdout, approved.stderr).to.equal(`node ${id} n1 (10.8.0.${id}, os-infrastructure) is active\n`);
    expect(await exited(joining)).to.equal(0);
    const membership = loadMembership(dir('n1'));
    expect(membership).to.include({ nodeId: Number(id), address: `10.8.0.${id}`, listen: '192.0.2.3:51820' });
    expect(membership.peers.map((p) => [p.name, p.publicKey, p.endpoint])).to.deep.equal([
      ['cloud-relay', nodeKey('hub'), '192.0.2.2:51820'],
      ['admin', nodeKey('admin'), '192.0.2.1:51820'],
    ]);

    await hub.log('membership updated', (r) => (r.peers as string[]).includes('n1'));
    await hub.log('peer added', (r) => r.peer === nodeKey('n1'));
    expect(hub.child.exitCode).to.equal(null);
    expect(hub.lines.all.filter((l) => l.includes('"pipeline running"'))).to.have.length(1);

    nodes.n1 = await runNode('n1');
    const answer = await f8('ping n1');
    expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
    await nodes.n1.log('command handled', (r) => r.counter === answer.body.counter && r.status === 'executed');
  });

  it('nodes ignore and count forged, foreign, junk and replayed beacons; two nodes join at once with tokens', async () => {
    const captured = await tool('forger', 'capture', '8090');
    await reloadAdmin(false);
    for (const host of ['n2', 'n3']) {
      await provision(host, true);
      // As if each had heard the captured beacon before a reboot: it must not be taken again.
      saveGenesisState(dir(host), { lastBeaconAt: captured.at });
    }
    const joining = ['n2', 'n3'].map((h) => joinNode(h));
    for (const j of joining) await j.lines.waitFor(/^listening for the authority's beacon on UDP 8090/, 10_000);
    await tool('forger', 'blast', '192.0.2.255', '8090', captured.hex);
    for (const j of joining) {
      for (const reason of ['forged', 'unknown-authority', 'not-a-beacon', 'replayed']) {
        await j.lines.waitFor(new RegExp(`^beacon ignored \\(${reason}\\) from 192\\.0\\.2\\.8:`), 10_000);
      }
    }
    await reloadAdmin(true);
    for (const j of joining) {
      expect(await exited(j)).to.equal(0);
      expect(j.lines.all).to.include('beacons ignored: not-a-beacon 1, unknown-authority 1, forged 1, replayed 1');
    }
    const addresses = ['n2', 'n3'].map((h) => loadMembership(dir(h)).address);
    expect(new Set(addresses).size).to.equal(2);
    nodes.n2 = await runNode('n2');
    nodes.n3 = await runNode('n3');
    await hub.log('membership updated', (r) => ['n1', 'n2', 'n3'].every((n) => (r.peers as string[]).includes(n)));
    const answer = await f8('ping the edge nodes');
    expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
    expect(answer.body.targets.map((t: { name: string }) => t.name).sort()).to.deep.equal(['n1', 'n2', 'n3']);
    for (const n of ['n1', 'n2', 'n3']) await nodes[n].log('command handled', (r) => r.counter === answer.body.counter && r.status === 'executed');
  });

  it('refuses and counts forged, malformed and replayed join requests', async () => {
    const commandPublic = loadMembership(dir('admin')).authority.commandPublicKey;
    expect(await tool('forger', 'forge-joins', '192.0.2.1:51820', commandPublic)).to.deep.equal({ forged: 401, malformed: 400, first: 202, replayed: 409 });
    const status = JSON.parse((await ppn('admin', 'status', '--instance', dir('admin'), '--json')).stdout);
    expect(status.stages.genesis.counters).to.include({ 'join-rejected.bad-mac': 1, 'join-rejected.malformed': 1, 'join-refused.replayed': 1 });
  });

  it('renames a node over F8 (with the token); the hub hears the new name; bad names are refused', async () => {
    const id = loadMembership(dir('n3')).nodeId;
    const rename = (name: string) => tool('admin', 'f8-post', f8Url, f8Token(), `v1/nodes/${id}/rename`, JSON.stringify({ name }));
    expect(await rename('n3-east')).to.deep.include({ status: 200 });
    await hub.log('membership updated', (r) => (r.peers as string[]).includes('n3-east'));
    expect((await rename('n2')).status).to.equal(409);
    expect((await rename('N3')).status).to.equal(400);
    expect((await registryNodes()).find((n) => n.id === id)!.name).to.equal('n3-east');
  });

  it('the admin killed mid-join and restarted: the node keeps asking and gets the same id, never a duplicate', async () => {
    await provision('n4', false);
    const joining = joinNode('n4');
    const waiting = await joining.lines.waitFor(/^waiting for approval as node \d+/, 10_000);
    const id = Number(/node (\d+)/.exec(waiting)![1]);
    admin.child.kill('SIGKILL');
    await exited(admin);
    await joining.lines.waitFor(/ECONNREFUSED; trying again/, 10_000);
    await startAdmin();
    const approved = await ppn(null, 'nodes', 'approve', String(id), '--instance', dir('admin'));
    expect(approved.code, approved.stderr).to.equal(0);
    expect(await exited(joining)).to.equal(0);
    expect(loadMembership(dir('n4')).nodeId).to.equal(id);
    const rows = (await registryNodes()).filter((n) => n.publicKey === nodeKey('n4'));
    expect(rows.map((n) => n.id)).to.deep.equal([id]);
    const ids = (await registryNodes()).map((n) => n.id);
    expect(new Set(ids).size).to.equal(ids.length);
  });

  it('a revoked node: the hub and the authority drop its peer, no command is signed for it, its traffic is refused', async () => {
    const n1 = loadMembership(dir('n1'));
    const revoked = await ppn(null, 'nodes', 'revoke', String(n1.nodeId), '--instance', dir('admin'));
    expect(revoked.stdout).to.equal(`node ${n1.nodeId} n1 (${n1.address}, os-infrastructure) is revoked\n`);
    await admin.log('peer removed', (r) => r.peer === nodeKey('n1'));
    await hub.log('peer removed', (r) => r.peer === nodeKey('n1'));

    const answer = await f8('ping n1');
    expect(answer.status).to.not.equal(200);
    const handled = nodes.n1.lines.all.filter((l) => l.includes('"command handled"')).length;

    // n1 knocks with its own key: the authority no longer knows it.
    const wgFile = join(root, 'n1.wg.conf');
    writeFileSync(wgFile, `[Interface]\nPrivateKey = ${formatKey(loadSecret(dir('n1'), 'identity.key', false))}\nAddress = ${n1.address}/32\nListenPort = 51821\n\n[Peer]\nPublicKey = ${nodeKey('admin')}\nAllowedIPs = 10.8.0.10/32\nEndpoint = 192.0.2.1:51820\nPersistentKeepalive = 1\n`, { mode: 0o600 });
    const knock = start('n1', ['wg', 'run', wgFile]);
    await admin.log('dropped', (r) => r.reason === 'initiation: unknown peer' && String(r.from).startsWith('192.0.2.3:'));
    await stop(knock.child);
    expect(nodes.n1.lines.all.filter((l) => l.includes('"command handled"')).length).to.equal(handled);
    expect((await registryNodes()).find((n) => n.id === n1.nodeId)!.status).to.equal('revoked');
  });

  it('once every id was used, a join takes the id of the node revoked longest ago', async () => {
    const n1 = loadMembership(dir('n1'));
    const registry = openRegistry(join(dir('admin'), 'admin.db'));
    const used = new Set(registry.nodes().map((n) => n.id));
    for (let id = 2; id <= 254; id++) {
      if (used.has(id)) continue;
      registry.upsertNode({ id, name: `filler-${id}`, aliases: [], address: `10.8.0.${id}`, role: 'os-infrastructure', groups: [], takesCommands: true, publicKey: formatKey(publicKeyOf(generateSecret())), status: 'revoked' }, 'test');
    }
    const before = registry.nodes().length;
    registry.close();
    await provision('n5', true);
    const joining = joinNode('n5');
    expect(await exited(joining)).to.equal(0);
    // n1 was revoked before the fillers: n5 has its id now (n1's key stays refused: admission.test.ts).
    const rows = await registryNodes();
    expect(rows.find((n) => n.id === n1.nodeId)).to.deep.include({ publicKey: nodeKey('n5'), status: 'active' });
    expect(rows.some((n) => n.publicKey === nodeKey('n1'))).to.equal(false);
    expect(rows.length).to.equal(before);
  });
});
