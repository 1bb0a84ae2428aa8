// How machines become nodes (docs/genesis.md):
//   ppn authority init --instance DIR --listen IP:PORT   make this machine the authority (admin)
//   ppn provision export --instance ADMIN --out FILE [--token]   the bundle a node pins
//   ppn provision --authority FILE --instance DIR         pin the authority on a node
//   ppn join --instance DIR [--scan-window SECONDS]       a node's first boot: beacon or claim, then join
//   ppn claim ADDRESS:9443 --code CODE                    the admin claims a node that heard no beacon
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_AUTHORITY_ID, MAX_NODE_ID, MESH_PREFIX, nodeAddress } from '../fleet/addresses.js';
import { nameProblem } from '../fleet/names.js';
import { AUTHORITY_ROLE, DEFAULT_GROUPS } from '../fleet/roles.js';
import { CLAIM_PORT, BEACON_PORT } from '../mesh/ports.js';
import { ensureInstanceDir, loadSecret } from '../membership/instance-files.js';
import { loadMembership, MEMBERSHIP_FILE, saveMembership } from '../membership/membership.js';
import { formatKey, publicKeyOf } from '../keys/index.js';
import { openRegistry } from '../registry/registry.js';
import { openHandoverLog } from '../registry/authority-handovers.js';
import { pinAuthority, saveEnrolmentToken, saveGenesisState, type PinnedAuthority } from '../genesis/authority-pin.js';
import { BUNDLE_FORMAT, readBundle, type ProvisioningBundle } from '../genesis/bundle.js';
import { claimNode } from '../genesis/claim.js';
import { InvalidCodeError, normaliseCode } from '../genesis/code.js';
import { joinMesh } from '../genesis/join-client.js';
import { AUTHORITY_ID_META, JOIN_ENDPOINT_META, openPairing } from '../genesis/pairing.js';
import { GENESIS_KEY_FILE, loadGenesisKey } from '../genesis/signing-key.js';
import { cliActor, DEFAULT_ADMIN_INSTANCE, openAdminPairing } from './nodes.js';
import { formatEndpoint, parseEndpoint, parseListen } from '../underlay/endpoint.js';
import { asUsageError, UsageError } from './cli-errors.js';

function endpointArg(text: string, what: string, parse = parseEndpoint) {
  return asUsageError(() => parse(text, what), Error);
}

function intArg(text: string, what: string, min: number, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) throw new UsageError(`${what} must be an integer in ${min}..${max}, got '${text}'`);
  return Number(text);
}

/** The admin's public identity, as nodes pin it. */
function authorityOf(dir: string): PinnedAuthority {
  if (!existsSync(join(dir, GENESIS_KEY_FILE))) throw new UsageError(`${dir} is not an authority's instance directory (no ${GENESIS_KEY_FILE}; see \`ppn authority init\`)`);
  const membership = loadMembership(dir);
  return {
    genesisKey: loadGenesisKey(dir, false).publicText,
    commandPublicKey: formatKey(publicKeyOf(loadSecret(dir, 'command.key', false))),
    nodeId: membership.nodeId,
    address: membership.address,
    // A node that joins after a hand-over pins its number too, so it takes no older one.
    ...latestHandover(dir),
  };
}

function latestHandover(dir: string): Pick<PinnedAuthority, 'handover'> {
  if (!existsSync(join(dir, 'admin.db'))) return {};
  const registry = openRegistry(join(dir, 'admin.db'));
  try {
    const number = openHandoverLog(registry).latest()?.number;
    return number ? { handover: number } : {};
  } finally {
    registry.close();
  }
}

export function register(program: Command): void {
  program
    .command('authority')
    .description('The authority (admin) node')
    .command('init')
    .description("Make an instance directory the mesh's authority: its keys (identity, command, genesis), its membership and its registry")
    .requiredOption('--instance <dir>', "the admin's instance directory")
    .requiredOption('--listen <ip:port>', "underlay address of the admin's WireGuard (its join endpoint and beacon use the same address)")
    .option('--id <n>', `the admin's node id (its address is ${MESH_PREFIX}.<id>)`, String(DEFAULT_AUTHORITY_ID))
    .option('--name <name>', "the admin's node name", 'admin')
    .action((opts: { instance: string; listen: string; id: string; name: string }) => {
      const dir = resolve(opts.instance);
      const listen = endpointArg(opts.listen, '--listen');
      const id = intArg(opts.id, '--id', 2, MAX_NODE_ID);
      if (existsSync(join(dir, MEMBERSHIP_FILE))) throw new UsageError(`${dir} already holds a node (${MEMBERSHIP_FILE}); not overwriting it`);
      ensureInstanceDir(dir);
      const publicKey = formatKey(publicKeyOf(loadSecret(dir, 'identity.key', true)));
      const commandPublicKey = formatKey(publicKeyOf(loadSecret(dir, 'command.key', true)));
      const genesisKey = loadGenesisKey(dir, true);
      const address = nodeAddress(id);
      const registry = openRegistry(join(dir, 'admin.db'));
      try {
        const pairing = openPairing(registry);
        for (const group of DEFAULT_GROUPS) registry.upsertGroup(group, cliActor());
        registry.upsertNode(
          { id, name: opts.name, aliases: ['authority', 'admin node'], address, role: AUTHORITY_ROLE, groups: [], takesCommands: false, publicKey, endpoint: formatEndpoint(listen), status: 'active' },
          cliActor(),
        );
        pairing.setMeta(AUTHORITY_ID_META, String(id));
      } finally {
        registry.close();
      }
      saveMembership(dir, {
        nodeId: id, name: opts.name, role: AUTHORITY_ROLE, address, listen: formatEndpoint(listen), groups: [], epoch: 0,
        authority: { nodeId: id, address, commandPublicKey }, peers: [],
      });
      console.log(`authority ${opts.name} (${address}) initialised in ${dir}`);
      console.log(`genesis key ${genesisKey.publicText}`);
      console.log(`run it with: ppn run --role ${AUTHORITY_ROLE} --instance ${dir}`);
    });

  const provision = program
    .command('provision')
    .description("Pin the authority on a node from a provisioning bundle (or, with `export`, make one on the admin)")
    .option('--authority <file>', 'the provisioning bundle the admin exported')
    .option('--instance <dir>', "the node's instance directory")
    .action((opts: { authority?: string; instance?: string }) => {
      if (!opts.authority || !opts.instance) throw new UsageError('give --authority FILE and --instance DIR (or use `ppn provision export` on the admin)');
      const bundle: ProvisioningBundle = asUsageError(() => readBundle(opts.authority!), Error);
      const dir = resolve(opts.instance);
      ensureInstanceDir(dir);
      asUsageError(() => pinAuthority(dir, bundle.authority), Error);
      if (bundle.enrolmentToken) saveEnrolmentToken(dir, bundle.enrolmentToken);
      if (bundle.joinEndpoint) saveGenesisState(dir, { joinEndpoint: bundle.joinEndpoint });
      console.log(`pinned authority ${bundle.authority.address} (genesis key ${bundle.authority.genesisKey}) in ${dir}${bundle.enrolmentToken ? ', with a one-time enrolment token' : ''}${bundle.joinEndpoint ? `; join endpoint ${bundle.joinEndpoint}` : ''}`);
      console.log(`first boot: ppn join --instance ${dir}`);
    });

  provision
    .command('export')
    .description("Write the provisioning bundle nodes pin: the authority's public keys, optionally a one-time enrolment token")
    .option('--instance <dir>', "the admin's instance directory", DEFAULT_ADMIN_INSTANCE)
    .requiredOption('--out <file>', 'where to write the bundle (refuses an existing file)')
    .option('--token', 'include a one-time enrolment token: the node that brings it is admitted at once')
    .option('--token-hours <n>', 'how long the token is good for', '24')
    .option('--join-endpoint <ip:port>', "the authority's join endpoint as nodes outside its LAN reach it: they join there outbound, from anywhere (without it, nodes find it by beacon or claim)")
    .action((opts: { instance: string; out: string; token?: boolean; tokenHours: string; joinEndpoint?: string }) => {
      // `provision` has an --instance of its own, which commander hands the value when it comes after `export`.
      const dir = resolve(provision.opts<{ instance?: string }>().instance ?? opts.instance);
      const authority = authorityOf(dir);
      const hours = intArg(opts.tokenHours, '--token-hours', 1, 24 * 365);
      if (opts.joinEndpoint) endpointArg(opts.joinEndpoint, '--join-endpoint');
      const bundle: ProvisioningBundle = { format: BUNDLE_FORMAT, authority, createdAt: new Date().toISOString() };
      if (opts.joinEndpoint) bundle.joinEndpoint = opts.joinEndpoint;
      if (opts.token) {
        const pairing = openAdminPairing(dir);
        try {
          bundle.enrolmentToken = pairing.createToken(cliActor(), hours * 3_600_000);
          bundle.tokenExpiresAt = new Date(Date.now() + hours * 3_600_000).toISOString();
        } finally {
          pairing.registry.close();
        }
      }
      try {
        // A bundle with a token is a secret until used: 0600, like a key.
        writeFileSync(opts.out, JSON.stringify(bundle, null, 2) + '\n', { mode: opts.token ? 0o600 : 0o644, flag: 'wx' });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw new UsageError(code === 'EEXIST' ? `${opts.out} already exists; not overwriting it` : `cannot write ${opts.out}: ${code ?? 'write failed'}`);
      }
      console.log(`wrote ${opts.out}${opts.token ? ` with a one-time enrolment token (good until ${bundle.tokenExpiresAt})` : ''}`);
    });

  program
    .command('join')
    .description("A node's first boot: find the authority (its join endpoint from the bundle or --authority-endpoint, a beacon, or an admin's claim), ask to join, save the membership; then `ppn run` it")
    .requiredOption('--instance <dir>', "the node's instance directory")
    .option('--scan-window <seconds>', "how long to listen for the authority's beacon", '30')
    .option('--name <name>', 'the name to ask for (default: the instance directory name)')
    .option('--role <role>', 'the role pipeline this node runs', 'os-infrastructure')
    .option('--listen <ip:port>', "this node's WireGuard endpoint on the underlay (default: its address toward the authority, port 51820)")
    .option('--authority-endpoint <ip:port>', "the authority's join endpoint: join there outbound (no beacon, no claim, no inbound port); default: the provisioning bundle's, if it has one")
    .option('--claim-listen <ip:port>', 'where to wait for a claim', `0.0.0.0:${CLAIM_PORT}`)
    .option('--beacon-port <port>', 'UDP port beacons arrive on', String(BEACON_PORT))
    .option('--poll <ms>', 'pause between join requests while waiting for approval', '1000')
    .option('--timeout <seconds>', 'give up if not admitted this long after the authority was found (default: wait)')
    .action(async (opts: { instance: string; scanWindow: string; name?: string; role: string; listen?: string; authorityEndpoint?: string; claimListen: string; beaconPort: string; poll: string; timeout?: string }) => {
      const problem = nameProblem(opts.role, 'role') ?? (opts.name === undefined ? undefined : nameProblem(opts.name));
      if (problem) throw new UsageError(problem);
      if (opts.listen) endpointArg(opts.listen, '--listen');
      const dir = resolve(opts.instance);
      const { membership, alreadyJoined } = await joinMesh({
        instanceDir: dir,
        name: opts.name,
        role: opts.role,
        listen: opts.listen,
        scanWindowMs: intArg(opts.scanWindow, '--scan-window', 0, 3600) * 1000,
        beaconPort: intArg(opts.beaconPort, '--beacon-port', 1, 65535),
        beaconFreshnessMs: 120_000,
        claimListen: endpointArg(opts.claimListen, '--claim-listen', parseListen),
        ...(opts.authorityEndpoint !== undefined && { authorityEndpoint: endpointArg(opts.authorityEndpoint, '--authority-endpoint') }),
        pollMs: intArg(opts.poll, '--poll', 50, 600_000),
        joinTimeoutMs: opts.timeout === undefined ? undefined : intArg(opts.timeout, '--timeout', 1, 86_400) * 1000,
        say: (text) => console.log(text),
      });
      console.log(`${alreadyJoined ? 'already joined' : 'joined'} as ${membership.name} (node ${membership.nodeId}, ${membership.address}, ${membership.role}); peers: ${membership.peers.map((p) => p.name).join(', ')}`);
      console.log(`start it with: ppn run --role ${membership.role} --instance ${dir}`);
    });

  program
    .command('claim')
    .description('Claim a node waiting for one (self-genesis): it pins this authority and is admitted at once')
    .argument('<address>', "the node's address and claim port, IPv4:PORT (it prints both)")
    .requiredOption('--code <code>', 'the claim code the node shows (case, dashes, I/L/O forgiven)')
    .option('--instance <dir>', "the admin's instance directory", DEFAULT_ADMIN_INSTANCE)
    .option('--join <ip:port>', "the join endpoint to send the node to (default: the one the running admin recorded)")
    .action(async (address: string, opts: { code: string; instance: string; join?: string }) => {
      const node = endpointArg(address, 'the node address');
      const code = asUsageError(() => normaliseCode(opts.code), InvalidCodeError);
      const dir = resolve(opts.instance);
      const authority = authorityOf(dir);
      const pairing = openAdminPairing(dir);
      try {
        const joinEndpoint = opts.join ?? pairing.getMeta(JOIN_ENDPOINT_META);
        if (!joinEndpoint) throw new UsageError('the admin has not recorded a join endpoint yet (run it once with its genesis stage) — or give --join IP:PORT');
        endpointArg(joinEndpoint, '--join');
        let approvedKey: string | undefined;
        try {
          const nodeKey = await claimNode({
            node, code, genesisKey: loadGenesisKey(dir, false), authority, joinEndpoint, now: Date.now,
            beforeClaim: (key) => {
              if (!pairing.hasPreapproval(key) && !pairing.byPublicKey(key)) approvedKey = key;
              pairing.preapprove(key, cliActor());
            },
          });
          console.log(`claimed the node with key ${nodeKey}: it pins this authority, joins at ${joinEndpoint} and is admitted at once`);
        } catch (err) {
          if (approvedKey) pairing.withdrawPreapproval(approvedKey);
          throw err;
        }
      } finally {
        pairing.registry.close();
      }
    });
}
