// Sends the authority's beacon every `everyMs` to the underlay's broadcast address, from the
// address its join endpoint is on. Times are strictly increasing even if the clock steps back.
import { createSocket } from 'node:dgram';
import { networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import { encodeBeacon } from './beacon.js';
import type { Endpoint } from '../underlay/endpoint.js';
import type { GenesisKey } from './signing-key.js';

/** The directed broadcast address of the interface that holds `host` (192.0.2.255 for 192.0.2.1/24). */
export function directedBroadcast(host: string): string | undefined {
  for (const addresses of Object.values(networkInterfaces())) {
    const a = addresses?.find((x) => x.family === 'IPv4' && x.address === host);
    if (!a) continue;
    const ip = a.address.split('.').map(Number);
    const mask = a.netmask.split('.').map(Number);
    return ip.map((o, i) => (o | (~mask[i] & 255)) & 255).join('.');
  }
  return undefined;
}

export interface BeaconSenderOptions {
  key: GenesisKey;
  bindHost: string;
  broadcast: string;
  port: number;
  joinEndpoint: Endpoint;
  everyMs: number;
  now(): number;
  count(what: string): void;
  logger: Logger;
}

export async function startBeaconSender(o: BeaconSenderOptions): Promise<{ close(): Promise<void> }> {
  const socket = createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, o.bindHost, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  socket.setBroadcast(true);
  let last = 0;
  let warned = false;
  const send = () => {
    last = Math.max(o.now(), last + 1);
    socket.send(encodeBeacon(o.key, o.joinEndpoint, last), o.port, o.broadcast, (err) => {
      if (!err) return o.count('beacons-sent');
      o.count('beacons-failed');
      // One line, not one per beacon: a missing route stays missing for a while.
      if (!warned) o.logger.warn({ to: `${o.broadcast}:${o.port}`, err: err.message }, 'beacon could not be sent');
      warned = true;
    });
  };
  send();
  const timer = setInterval(send, o.everyMs);
  o.logger.info({ to: `${o.broadcast}:${o.port}`, joinEndpoint: `${o.joinEndpoint.host}:${o.joinEndpoint.port}`, everyMs: o.everyMs }, 'beacon on');
  return {
    close: async () => {
      clearInterval(timer);
      await new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
}
