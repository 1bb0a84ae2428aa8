// Genesis test fixtures: a fresh admin registry (the authority's own row, node 10, and the edge
// group) and an authority serving joins and beacons on loopback.
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { pino } from 'pino';
import { DEFAULT_GROUPS } from '../../core/fleet/roles.js';
import type { PinnedAuthority } from '../../core/genesis/authority-pin.js';
import { startBeaconSender } from '../../core/genesis/beacon-sender.js';
import type { Endpoint } from '../../core/underlay/endpoint.js';
import { startJoinServer, type GenesisEvent, type JoinServerLimits } from '../../core/genesis/join-server.js';
import { genesisKeyFromSeed, type GenesisKey } from '../../core/genesis/signing-key.js';
import { AUTHORITY_ID_META, openPairing, type Pairing } from '../../core/genesis/pairing.js';
import { formatKey, generateSecret, publicKeyOf } from '../../core/keys/index.js';
import { openRegistry } from '../../core/registry/registry.js';
import { scratchDir } from '../support/pipeline.js';

export const randomPublicKey = () => formatKey(publicKeyOf(generateSecret()));

export function adminRegistry(dir = scratchDir('genesis')): { dir: string; file: string; pairing: Pairing } {
  const file = join(dir, 'admin.db');
  const pairing = openPairing(openRegistry(file));
  for (const g of DEFAULT_GROUPS) pairing.registry.upsertGroup(g, 'test');
  pairing.registry.upsertNode(
    { id: 10, name: 'admin', aliases: [], address: '10.8.0.10', role: 'os-network-admin', groups: [], takesCommands: false, publicKey: randomPublicKey(), endpoint: '192.0.2.1:51820', status: 'active' },
    'test',
  );
  pairing.setMeta(AUTHORITY_ID_META, '10');
  return { dir, file, pairing };
}

/** An authority on loopback: its keys, registry, join endpoint and (optionally) a beacon to one UDP port. */
export interface LoopbackAuthority {
  commandSecret: Buffer;
  key: GenesisKey;
  pairing: Pairing;
  pinned: PinnedAuthority;
  counts: Map<string, number>;
  /** The join endpoint's warn lines (pino JSON). */
  warnings: string[];
  events: Feed<GenesisEvent>;
  joinEndpoint: Endpoint;
  /** (Re)starts the join endpoint (on the same port after a stop) and the beacon. */
  start(options?: { auto?: boolean; beaconPort?: number; clockSkewMs?: number; limits?: Partial<JoinServerLimits> }): Promise<void>;
  stop(): Promise<void>;
}

export async function loopbackAuthority(): Promise<LoopbackAuthority> {
  const { file, pairing: first } = adminRegistry();
  first.registry.close();
  const commandSecret = generateSecret();
  const key = genesisKeyFromSeed(randomBytes(32));
  const warnings: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
  const counts = new Map<string, number>();
  const events = feed<GenesisEvent>();
  let running: { close(): Promise<void> }[] = [];
  const authority: LoopbackAuthority = {
    commandSecret,
    key,
    pairing: openPairing(openRegistry(file)),
    pinned: { genesisKey: key.publicText, commandPublicKey: formatKey(publicKeyOf(commandSecret)), nodeId: 10, address: '10.8.0.10' },
    counts,
    warnings,
    events,
    joinEndpoint: { host: '127.0.0.1', port: 0 },
    async start(options = {}) {
      // A restart opens the database afresh, as a restarted admin would.
      if (!authority.pairing.registry.db.open) authority.pairing = openPairing(openRegistry(file));
      const server = await startJoinServer({
        host: '127.0.0.1',
        port: authority.joinEndpoint.port,
        commandSecret: () => commandSecret,
        pairing: authority.pairing,
        policy: { auto: !!options.auto, maxPending: 32, groupsByRole: { 'os-infrastructure': [1] } },
        authority: { nodeId: 10, commandPublicKey: authority.pinned.commandPublicKey, epoch: 0 },
        freshnessMs: 60_000,
        now: () => Date.now() + (options.clockSkewMs ?? 0),
        beforeGrant: () => {},
        syncSeq: () => 0,
        logger,
        onEvent: (e) => events.push(e),
        count: (what) => counts.set(what, (counts.get(what) ?? 0) + 1),
        limits: options.limits,
      });
      authority.joinEndpoint = { host: '127.0.0.1', port: server.port };
      running.push(server);
      if (options.beaconPort) {
        running.push(
          await startBeaconSender({
            key, bindHost: '127.0.0.1', broadcast: '127.0.0.1', port: options.beaconPort, joinEndpoint: authority.joinEndpoint,
            everyMs: 100, now: Date.now, count: () => {}, logger,
          }),
        );
      }
    },
    async stop() {
      for (const r of running) await r.close();
      running = [];
      authority.pairing.registry.close();
    },
  };
  return authority;
}

/** A free UDP port on loopback (for a beacon listener). */
export async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** Items as they come (log lines, events), with a bounded wait for the first one that matches. */
export interface Feed<T> {
  readonly items: T[];
  push(item: T): void;
  waitFor(match: (item: T) => boolean, timeoutMs?: number): Promise<T>;
}

export function feed<T>(): Feed<T> {
  const items: T[] = [];
  const waiters = new Set<{ match: (item: T) => boolean; resolve: (item: T) => void }>();
  return {
    items,
    push(item) {
      items.push(item);
      for (const w of [...waiters]) if (w.match(item)) (waiters.delete(w), w.resolve(item));
    },
    waitFor(match, timeoutMs = 10_000) {
      const seen = items.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise<T>((resolve, reject) => {
        const w = { match, resolve: (item: T) => (clearTimeout(timer), resolve(item)) };
        const timer = setTimeout(() => (waiters.delete(w), reject(new Error(`nothing matching came within ${timeoutMs} ms; got:\n${items.map((i) => JSON.stringify(i)).join('\n')}`))), timeoutMs);
        waiters.add(w);
      });
    },
  };
}
