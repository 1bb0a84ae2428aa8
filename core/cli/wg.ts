// `ppn wg run FILE`: a userspace WireGuard endpoint from a wg-quick style file, on one UDP socket,
// with the node's mesh address virtual (no root, no TUN). It logs handshakes (JSON, pino; never a
// key other than public ones) and stops cleanly on SIGTERM or SIGINT.
//   --echo-udp PORT           answer every UDP datagram to the mesh address on PORT with itself
//   --rekey-after-time SECS   rekey sooner than the protocol's 120 s (to watch a rekey happen)
//   --cookie-threshold N      handshakes/s above which mac2 cookies are demanded (0 = always)
// `ppn wg-config --instance DIR [--out FILE]`: the wg-quick file for OS mode (interface ppn0) from
// the node's key and membership; written 0600 (DIR/ppn0.conf by default), printed only with `--out -`.
import { chmodSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { lookup } from 'node:dns/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { pino } from 'pino';
import { wgQuickFor } from '../mesh/wg-config.js';
import { loadSecret } from '../membership/instance-files.js';
import { loadMembership } from '../membership/membership.js';
import { ConfigError, parseWgQuick, type WgQuickConfig } from '../wireguard/config.js';
import { createDevice } from '../wireguard/device.js';
import { asUsageError, UsageError } from './cli-errors.js';

interface RunOptions {
  echoUdp?: string;
  rekeyAfterTime?: string;
  cookieThreshold?: string;
  bind?: string;
  logLevel: string;
}

function positiveNumber(name: string, value: string | undefined, { integer = false, min = 0, max = Infinity } = {}): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    throw new UsageError(`${name} must be ${integer ? 'an integer' : 'a number'} in ${min}..${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}

function readConfig(file: string): WgQuickConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : code ?? 'read failed'}`);
  }
  return asUsageError(() => parseWgQuick(text, file), ConfigError);
}

async function run(file: string, opts: RunOptions): Promise<void> {
  const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];
  if (!levels.includes(opts.logLevel)) throw new UsageError(`--log-level must be one of ${levels.join(', ')}`);
  const echoPort = positiveNumber('--echo-udp', opts.echoUdp, { integer: true, min: 1, max: 65535 });
  const rekeyAfterTime = positiveNumber('--rekey-after-time', opts.rekeyAfterTime, { min: 1, max: 120 });
  const cookieThreshold = positiveNumber('--cookie-threshold', opts.cookieThreshold, { integer: true });
  const config = readConfig(file);
  const log = pino({ level: opts.logLevel });
  for (const { line, key } of config.ignored) log.warn({ file, line, key }, 'wg-quick setting ignored by the userspace endpoint');

  // Host names in Endpoint lines are resolved once, at start, as wg-quick does.
  const endpoints = await Promise.all(config.peers.map(async (p) => {
    if (!p.endpoint) return undefined;
    try {
      const { address } = await lookup(p.endpoint.host, { family: 4 });
      return { host: address, port: p.endpoint.port };
    } catch {
      throw new UsageError(`${file}:${p.line}: cannot resolve endpoint host ${JSON.stringify(p.endpoint.host)}`);
    }
  }));

  const device = await createDevice({
    privateKey: config.interface.privateKey,
    listenPort: config.interface.listenPort,
    bindAddress: opts.bind,
    address: config.interface.address,
    mtu: config.interface.mtu,
    logger: log,
    cookieThreshold,
    timings: rekeyAfterTime === undefined ? undefined : { rekeyAfterTime: rekeyAfterTime * 1000 },
  });
  config.peers.forEach((p, i) => device.addPeer({
    publicKey: p.publicKey,
    presharedKey: p.presharedKey,
    allowedIPs: p.allowedIPs,
    endpoint: endpoints[i],
    persistentKeepalive: p.persistentKeepalive,
  }));
  if (echoPort !== undefined) {
    device.bindUdp(echoPort, (payload, from) => { device.sendUdp(echoPort, from.address, from.port, payload); });
  }
  device.on('peer', (e) => log.info(e, 'peer state'));
  log.info({ publicKey: device.publicKey, address: device.address, port: device.port, echoUdp: echoPort }, 'listening');

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  await device.close();
  log.info({ signal }, 'stopped');
}

function wgConfig(opts: { instance: string; out?: string }): void {
  const result = asUsageError(() => wgQuickFor(loadMembership(opts.instance), loadSecret(opts.instance, 'identity.key', false)), Error);
  for (const w of result.warnings) process.stderr.write(`ppn: warning: ${w}\n`);
  if (opts.out === '-') {
    process.stdout.write(result.text);
    return;
  }
  const out = opts.out ?? join(opts.instance, 'ppn0.conf');
  // Written aside and renamed, so the key is never in a file readable by others, even briefly.
  const tmp = `${out}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, result.text, { mode: 0o600, flag: 'wx' });
    chmodSync(tmp, 0o600);
    renameSync(tmp, out);
  } catch (err) {
    throw new UsageError(`cannot write ${out}: ${(err as NodeJS.ErrnoException).code ?? 'write failed'}`);
  }
  process.stderr.write(`ppn: wrote ${out} (mode 0600: it holds the private key)\n`);
}

export function register(program: Command): void {
  program.command('wg-config')
    .description('Write the wg-quick file for OS mode (interface ppn0) from the node\'s key and membership')
    .requiredOption('--instance <dir>', 'the node\'s instance directory (identity.key, membership.json)')
    .option('--out <file>', 'where to write it (mode 0600); "-" prints it, private key included (default: DIR/ppn0.conf)')
    .action((opts: { instance: string; out?: string }) => wgConfig(opts));

  const wg = program.command('wg').description('Userspace WireGuard, interoperable with stock WireGuard peers');
  wg.command('run')
    .description('Run a userspace WireGuard endpoint from a wg-quick style file ([Interface] PrivateKey, Address, ListenPort; [Peer] ...)')
    .argument('<file>', 'wg-quick style configuration file')
    .option('--echo-udp <port>', 'echo every UDP datagram sent to this port of the mesh address back to its sender')
    .option('--rekey-after-time <seconds>', 'rekey sessions after this many seconds instead of 120 (tests, demonstrations)')
    .option('--cookie-threshold <n>', 'handshakes per second above which the endpoint is "under load" and demands cookies (0 = always; default 64)')
    .option('--bind <address>', 'host IPv4 address to bind the UDP socket to (default: all)')
    .option('--log-level <level>', 'log level: fatal, error, warn, info, debug, trace', 'info')
    .action((file: string, opts: RunOptions) => run(file, opts));
}
