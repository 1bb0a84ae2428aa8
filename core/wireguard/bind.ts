// THE BIND: the device's one seam to the network, as wireguard-go's conn.Bind.
//
// Every outer (already encrypted) datagram the device sends leaves through `Bind.send(endpoint,
// datagram)`, and every datagram it receives comes in through the `receive` callback the device
// gives the bind when it opens it. Nothing else in core/wireguard touches a socket.
//
// Endpoints are of two kinds (peer.ts's Endpoint):
//  - `{ host, port }`: a UDP address, sent on the device's one real UDP socket (this file);
//  - `{ relay: id }`: a relay the layer above provides (e.g. core/mesh/relay.ts, through the hub).
//    `setRelay(id, send)` registers where its datagrams go; the far side's datagrams come back
//    through `device.receiveDatagram(datagram, { relay: id })`, the bind's inbound door for relays.
//
// Which endpoint a peer's datagrams go to is not the bind's business: paths.ts decides that
// (classic WireGuard roaming, or a path owner the layer above installs; see there).
import { createSocket, type Socket } from 'node:dgram';
import type { Logger } from './context.js';
import type { Endpoint } from './peer.js';

/** Hands an outer datagram to the device, with the endpoint it arrived from. */
export type Receive = (datagram: Uint8Array, from: Endpoint) => void;

/** Where a relay's outer datagrams go (the layer above carries them to the far side). */
export type RelaySend = (datagram: Buffer) => void;

export interface Bind {
  /** The real UDP port in use. */
  readonly port: number;
  /**
   * Sends one outer datagram. Returns 'no relay' when `to` is a relay nobody registered (nothing
   * is sent); a UDP send that fails later (e.g. no route to host) calls `failed`.
   */
  send(to: Endpoint, datagram: Buffer, failed?: (err: Error) => void): 'no relay' | undefined;
  setRelay(id: string, send: RelaySend | undefined): void;
  close(): Promise<void>;
}

export interface UdpBindOptions {
  /** 0 or absent picks a free port. */
  port?: number;
  /** All IPv4 addresses by default. */
  address?: string;
  recvBufferSize: number;
  log: Logger;
}

/** The default bind: one real UDP socket, plus the relays registered on it. */
export async function openUdpBind(options: UdpBindOptions, receive: Receive): Promise<Bind> {
  const socket: Socket = createSocket({ type: 'udp4', recvBufferSize: options.recvBufferSize });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ port: options.port ?? 0, address: options.address }, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  socket.on('error', (err) => options.log.warn({ err: err.message }, 'udp socket error'));
  socket.on('message', (msg, rinfo) => receive(msg, { host: rinfo.address, port: rinfo.port }));
  const relays = new Map<string, RelaySend>();
  return {
    port: socket.address().port,
    send(to, datagram, failed) {
      if ('relay' in to) {
        const relay = relays.get(to.relay);
        if (!relay) return 'no relay';
        relay(datagram);
      } else {
        socket.send(datagram, to.port, to.host, failed && ((err) => { if (err) failed(err); }));
      }
      return undefined;
    },
    setRelay(id, send) {
      if (send) relays.set(id, send);
      else relays.delete(id);
    },
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
