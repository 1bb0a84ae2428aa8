// Cryptokey routing (whitepaper §2): each peer owns prefixes; an outgoing packet goes to the
// peer owning the longest prefix containing its destination, and an incoming packet is kept only
// if its source lies in a prefix of the peer that sent it. A binary trie per address family; a
// prefix given to a second peer moves to it, as with `wg set`.
import { formatIPv4, parseIPv4 } from './ipv4.js';

export interface Prefix {
  bytes: Uint8Array;
  bits: number;
}

interface Node<T> {
  zero?: Node<T>;
  one?: Node<T>;
  value?: T;
  /** The prefix this node stands for, kept while it has a value. */
  prefix?: Prefix;
}

function bitAt(bytes: Uint8Array, i: number): number {
  return (bytes[i >> 3] >> (7 - (i & 7))) & 1;
}

function parseIPv6(text: string): Uint8Array | null {
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return null;
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const words = (part: string): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    for (const group of part.split(':')) {
      if (group.includes('.')) {
        const v4 = parseIPv4(group);
        if (!v4) return null;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(group)) {
        out.push(parseInt(group, 16));
      } else {
        return null;
      }
    }
    return out;
  };
  const head = words(halves[0]);
  const tail = halves.length === 2 ? words(halves[1]) : [];
  if (!head || !tail) return null;
  const fill = 8 - head.length - tail.length;
  if (halves.length === 1 ? fill !== 0 : fill < 1) return null;
  const all = [...head, ...new Array<number>(halves.length === 2 ? fill : 0).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  all.forEach((w, i) => { bytes[2 * i] = w >> 8; bytes[2 * i + 1] = w & 0xff; });
  return bytes;
}

/** Parses "a.b.c.d/n", "x::y/n" or a bare address (a host route); host bits are cleared. */
export function parsePrefix(text: string): Prefix {
  const [addr, len, extra] = text.trim().split('/');
  const bytes = parseIPv4(addr) ?? parseIPv6(addr);
  if (!bytes || extra !== undefined) throw new Error(`not an IP prefix: ${JSON.stringify(text)}`);
  const max = bytes.length * 8;
  const bits = len === undefined ? max : Number(len);
  if (!/^\d+$/.test(len ?? String(max)) || bits > max) throw new Error(`bad prefix length in ${JSON.stringify(text)}`);
  for (let i = bits; i < max; i++) bytes[i >> 3] &= ~(1 << (7 - (i & 7)));
  return { bytes, bits };
}

export function formatPrefix(p: Prefix): string {
  if (p.bytes.length === 4) return `${formatIPv4(p.bytes)}/${p.bits}`;
  const words = Array.from({ length: 8 }, (_, i) => ((p.bytes[2 * i] << 8) | p.bytes[2 * i + 1]).toString(16));
  return `${words.join(':').replace(/(^|:)0(:0)+(:|$)/, '::')}/${p.bits}`;
}

export interface AllowedIps<T> {
  insert(prefix: Prefix, value: T): void;
  /** Forgets every prefix of `value` (a removed peer). */
  removeValue(value: T): void;
  /** The owner of the longest prefix containing `address` (4 or 16 bytes). */
  lookup(address: Uint8Array): T | undefined;
  prefixesOf(value: T): Prefix[];
}

export function createAllowedIps<T>(): AllowedIps<T> {
  const roots: Record<number, Node<T>> = { 4: {}, 16: {} };
  // Each value's nodes, so a peer's prefixes are found (peer stats, read on every path tick for
  // every peer) and removed without walking the whole trie: with 253 peers that walk was the
  // largest cost of a simulated /24 fleet.
  const owned = new Map<T, Set<Node<T>>>();

  function release(node: Node<T>): void {
    if (node.value === undefined) return;
    const nodes = owned.get(node.value);
    nodes?.delete(node);
    if (nodes?.size === 0) owned.delete(node.value);
    node.value = undefined;
    node.prefix = undefined;
  }

  return {
    insert(prefix, value) {
      let node = roots[prefix.bytes.length];
      for (let i = 0; i < prefix.bits; i++) {
        const side = bitAt(prefix.bytes, i) ? 'one' : 'zero';
        node = node[side] ??= {};
      }
      release(node);
      node.value = value;
      node.prefix = { bytes: new Uint8Array(prefix.bytes), bits: prefix.bits };
      let nodes = owned.get(value);
      if (!nodes) owned.set(value, (nodes = new Set()));
      nodes.add(node);
    },
    removeValue(value) {
      // Empty branches are left in place: they cost a few objects and keep removal simple.
      for (const node of [...(owned.get(value) ?? [])]) release(node);
    },
    lookup(address) {
      let node: Node<T> | undefined = roots[address.length];
      if (!node) return undefined;
      let found = node.value;
      for (let i = 0; node && i < address.length * 8; i++) {
        node = bitAt(address, i) ? node.one : node.zero;
        if (node?.value !== undefined) found = node.value;
      }
      return found;
    },
    prefixesOf(value) {
      return [...(owned.get(value) ?? [])].map((n) => ({ bytes: new Uint8Array(n.prefix!.bytes), bits: n.prefix!.bits }));
    },
  };
}
