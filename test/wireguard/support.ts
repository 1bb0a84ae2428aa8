// Shared by the wireguard tests: pairs of devices joined by an in-memory link (through the
// device's relay hook, so no sockets or real time are involved), and bounded waits on events.
import { createManualClock, type ManualClock } from '../../core/wireguard/clock.js';
import { createDevice, type Device, type DeviceOptions, type PeerConfig, type UdpSource } from '../../core/wireguard/device.js';
import { formatKey, generateSecret, publicKeyOf } from '../../core/keys/index.js';
import { MESSAGE_TRANSPORT, TRANSPORT_MIN_SIZE } from '../../core/wireguard/messages.js';

export interface Sent {
  from: 'a' | 'b';
  /** The clock's time when it was sent. */
  at: number;
  data: Buffer;
  type: number;
  keepalive: boolean;
}

/**
 * Datagrams between two devices, delivered on the next turn of the event loop. While `up` is
 * false they are recorded but not delivered (a broken path).
 */
export interface Link {
  up: boolean;
  sent: Sent[];
  /** Resolves with the first datagram sent from now on that matches, or rejects after `ms`. */
  next(match: (s: Sent) => boolean, ms?: number): Promise<Sent>;
  /** Resolves once every datagram in flight has been delivered (and what they caused, too). */
  settle(): Promise<void>;
}

export function link(a: Device, b: Device, clock: { now(): number }, name = 'wire'): Link {
  let inFlight = 0;
  const waiters: { match: (s: Sent) => boolean; resolve: (s: Sent) => void }[] = [];
  const l: Link = {
    up: true,
    sent: [],
    next(match, ms = 5000) {
      return new Promise((resolve, reject) => {
        const w = { match, resolve: (s: Sent) => { clearTimeout(t); resolve(s); } };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`no matching datagram within ${ms} ms`));
        }, ms);
        waiters.push(w);
      });
    },
    async settle() {
      while (inFlight > 0) await new Promise((r) => setImmediate(r));
    },
  };
  const wire = (from: 'a' | 'b', to: Device) => (data: Buffer) => {
    const s: Sent = { from, at: clock.now(), data, type: data[0], keepalive: data[0] === MESSAGE_TRANSPORT && data.length === TRANSPORT_MIN_SIZE };
    l.sent.push(s);
    for (const w of [...waiters]) {
      if (w.match(s)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(s);
      }
    }
    if (!l.up) return;
    inFlight++;
    setImmediate(() => {
      inFlight--;
      to.receiveDatagram(data, { relay: name });
    });
  };
  a.setRelay(name, wire('a', b));
  b.setRelay(name, wire('b', a));
  return l;
}

export interface Pair {
  a: Device;
  b: Device;
  clock: ManualClock;
  link: Link;
  close(): Promise<void>;
}

/**
 * Two devices (10.0.0.1 and 10.0.0.2) on a manual clock, peered over an in-memory link. Only `a`
 * knows where `b` is at first, so `a` initiates.
 */
export async function linkedPair(opts: {
  a?: Partial<DeviceOptions>; b?: Partial<DeviceOptions>; aPeer?: Partial<PeerConfig>; bPeer?: Partial<PeerConfig>;
} = {}): Promise<Pair> {
  const clock = createManualClock();
  const ka = generateSecret();
  const kb = generateSecret();
  const a = await createDevice({ privateKey: ka, address: '10.0.0.1', bindAddress: '127.0.0.1', clock, ...opts.a });
  const b = await createDevice({ privateKey: kb, address: '10.0.0.2', bindAddress: '127.0.0.1', clock, ...opts.b });
  const l = link(a, b, clock);
  a.addPeer({ publicKey: publicKeyOf(kb), allowedIPs: ['10.0.0.2/32'], endpoint: { relay: 'wire' }, ...opts.aPeer });
  b.addPeer({ publicKey: publicKeyOf(ka), allowedIPs: ['10.0.0.1/32'], ...opts.bPeer });
  return { a, b, clock, link: l, close: async () => { await a.close(); await b.close(); } };
}

/**
 * Moves the pair's clock forward by `ms`, stopping at every timer that falls due so that what it
 * sent is delivered (in zero simulated time) before time moves on, as on a fast network.
 */
export async function step(p: Pair, ms: number): Promise<void> {
  const end = p.clock.now() + ms;
  await p.link.settle();
  for (;;) {
    const due = p.clock.nextTimerAt();
    if (due === undefined || due > end) break;
    p.clock.advance(due - p.clock.now());
    await p.link.settle();
  }
  p.clock.advance(end - p.clock.now());
  await p.link.settle();
}

export function nextEvent<T>(subscribe: (listener: (e: T) => void) => void, unsubscribe: (listener: (e: T) => void) => void, ms = 5000, match: (e: T) => boolean = () => true): Promise<T> {
  return new Promise((resolve, reject) => {
    const listener = (e: T) => {
      if (!match(e)) return;
      clearTimeout(t);
      unsubscribe(listener);
      resolve(e);
    };
    const t = setTimeout(() => { unsubscribe(listener); reject(new Error(`no event within ${ms} ms`)); }, ms);
    subscribe(listener);
  });
}

export function nextHandshake(d: Device, ms?: number) {
  return nextEvent<{ publicKey: string; initiator: boolean; endpoint?: string }>((l) => d.on('handshake', l), (l) => d.off('handshake', l), ms);
}

/** Resolves with the next UDP payload received on `port` of `d`. */
export function nextUdp(d: Device, port: number, ms = 5000): Promise<{ payload: Buffer; from: UdpSource }> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { binding.close(); reject(new Error(`no UDP datagram on port ${port} within ${ms} ms`)); }, ms);
    const binding = d.bindUdp(port, (payload, from) => {
      clearTimeout(t);
      binding.close();
      resolve({ payload: Buffer.from(payload), from });
    });
  });
}

export function newKey(): { secret: Uint8Array; publicKey: string } {
  const secret = generateSecret();
  return { secret, publicKey: formatKey(publicKeyOf(secret)) };
}
