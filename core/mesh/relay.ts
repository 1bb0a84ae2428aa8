// The hub relay (DESIGN §5). Spokes keep WireGuard sessions with each other, end to end. When a
// spoke has no direct path to another, the device hands the already-encrypted WireGuard datagram
// for it to this module (the peer's endpoint is `{ relay: id }`), which sends it to the hub inside
// the spoke's own tunnel with the hub, in a relay frame naming the far spoke; the hub passes it on
// inside its tunnel with that spoke, the frame now naming the source. The hub decrypts only its
// own tunnels: what it handles of spoke-to-spoke traffic is ciphertext of their session, which it
// can neither read nor alter (an altered datagram fails the far spoke's authentication).
//
// Relay frame, the payload of a UDP datagram on the mesh from RELAY_PORT to RELAY_PORT:
//
//   0        4                                 n
//   +--------+---------------------------------+
//   | IPv4   | WireGuard datagram, exactly as  |
//   | address| it would travel on UDP           |
//   +--------+---------------------------------+
//
//   spoke → hub: the address is the destination spoke's mesh address;
//   hub → spoke: the address is the source spoke's mesh address (the inner source the hub
//   authenticated by cryptokey routing, so a spoke cannot pose as another to the far side's relay
//   path — and the datagram inside authenticates its sender anyway).
import type { Device, Endpoint, Logger } from '../wireguard/device.js';
import { RELAY_PORT } from './ports.js';
import { formatIPv4, parseIPv4 } from '../wireguard/ipv4.js';
import { messageType, MESSAGE_INITIATION, MESSAGE_TRANSPORT, TRANSPORT_MIN_SIZE } from '../wireguard/messages.js';

/** The relay's UDP port on the mesh addresses (spokes and hub alike). */
const ADDRESS_SIZE = 4;

export interface RelayFrame {
  /** Mesh address of the other end: the destination on the way in, the source on the way out. */
  address: string;
  datagram: Uint8Array;
}

export function encodeFrame(address: string, datagram: Uint8Array): Buffer {
  const a = parseIPv4(address);
  if (!a) throw new Error(`not an IPv4 address: ${JSON.stringify(address)}`);
  const frame = Buffer.allocUnsafe(ADDRESS_SIZE + datagram.length);
  frame.set(a, 0);
  frame.set(datagram, ADDRESS_SIZE);
  return frame;
}

/** Null for anything that cannot be a frame carrying a WireGuard message. */
export function decodeFrame(frame: Uint8Array): RelayFrame | null {
  if (frame.length < ADDRESS_SIZE + TRANSPORT_MIN_SIZE) return null;
  const datagram = frame.subarray(ADDRESS_SIZE);
  const type = messageType(datagram);
  if (type < MESSAGE_INITIATION || type > MESSAGE_TRANSPORT) return null;
  return { address: formatIPv4(frame.subarray(0, ADDRESS_SIZE)), datagram };
}

export interface RelayOptions {
  /** Pass frames on between spokes (the hub); otherwise only take frames meant for this node. */
  serve: boolean;
  /** The public key of the peer whose own mesh address this is, if any. */
  peerAt(address: string): string | undefined;
  logger: Logger;
}

export interface Relay {
  /** The device endpoint for reaching the peer at `peerAddress` through the hub at `hubAddress`. */
  path(hubAddress: string, peerAddress: string): Endpoint;
  stats(): { served: boolean; framesSent: number; framesReceived: number; framesRelayed: number; drops: Record<string, number> };
  close(): void;
}

export function createRelay(device: Device, options: RelayOptions): Relay {
  const paths = new Set<string>();
  const drops: Record<string, number> = {};
  const counts = { framesSent: 0, framesReceived: 0, framesRelayed: 0 };
  const drop = (reason: string, detail: object) => {
    drops[reason] = (drops[reason] ?? 0) + 1;
    options.logger.debug({ reason, ...detail }, 'relay frame dropped');
  };

  function path(hubAddress: string, peerAddress: string): Endpoint {
    const id = `${hubAddress}>${peerAddress}`;
    if (!paths.has(id)) {
      device.setRelay(id, (datagram) => {
        counts.framesSent++;
        device.sendUdp(RELAY_PORT, hubAddress, RELAY_PORT, encodeFrame(peerAddress, datagram));
      });
      paths.add(id);
    }
    return { relay: id };
  }

  const binding = device.bindUdp(RELAY_PORT, (payload, from) => {
    const frame = decodeFrame(payload);
    if (!frame) return drop('not a relay frame', { from: from.address });
    // Frames come from a peer's own address only (not from others it routes classically), so a
    // stock peer behind a hub cannot open relay paths.
    if (options.peerAt(from.address) !== from.peer) return drop('not from a peer\'s own address', { from: from.address });
    if (options.serve) {
      if (frame.address === from.address || frame.address === device.address) return drop('relay loop', { from: from.address });
      if (!options.peerAt(frame.address)) return drop('destination is not a peer', { from: from.address, to: frame.address });
      if (!device.sendUdp(RELAY_PORT, frame.address, RELAY_PORT, encodeFrame(from.address, frame.datagram))) {
        return drop('no route to the destination', { from: from.address, to: frame.address });
      }
      counts.framesRelayed++;
      return;
    }
    // Only for peers this node knows: a relay cannot make it keep paths to arbitrary addresses.
    if (!options.peerAt(frame.address)) return drop('source is not a peer', { from: from.address, source: frame.address });
    counts.framesReceived++;
    device.receiveDatagram(frame.datagram, path(from.address, frame.address));
  });

  return {
    path,
    stats: () => ({ served: options.serve, ...counts, drops: { ...drops } }),
    close() {
      binding.close();
      for (const id of paths) device.setRelay(id, undefined);
      paths.clear();
    },
  };
}
