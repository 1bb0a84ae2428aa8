import { expect } from 'chai';
import {
  buildIcmpEcho, buildUdpPacket, createReassembler, fragmentIPv4, icmpEchoReply, internetChecksum, parseIPv4,
  parseIPv4Packet, parseUdp,
} from '../../core/wireguard/ipv4.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** An independent checksum: 32-bit sum of big-endian words, folded once at the end. */
function referenceChecksum(data: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < data.length; i += 2) sum += (data[i] << 8) + (i + 1 < data.length ? data[i + 1] : 0);
  while (sum >> 16) sum = (sum & 0xffff) + Math.floor(sum / 65536);
  return (~sum) & 0xffff;
}

describe('wireguard ipv4: IPv4, UDP and ICMP framing', () => {
  it('computes the IPv4 header checksum of a known header', () => {
    // The classic worked example: 192.168.0.1 → 192.168.0.199, checksum 0xb861.
    const header = hex('4500 0073 0000 4000 4011 0000 c0a8 0001 c0a8 00c7');
    expect(internetChecksum(header)).to.equal(0xb861);
    header.writeUInt16BE(0xb861, 10);
    expect(internetChecksum(header)).to.equal(0);
  });

  it('builds UDP packets whose IPv4 and UDP checksums verify independently', () => {
    const src = parseIPv4('10.8.0.10')!;
    const dst = parseIPv4('10.8.0.2')!;
    for (const size of [0, 1, 7, 64, 1400]) {
      const payload = Buffer.alloc(size, 0xa5);
      // Built in memory that was not zeroed (as the transport's allocPacket hands out): every
      // header byte, the checksum field included, must be written before it is summed.
      const p = buildUdpPacket(src, dst, 40000, 8090, payload, (n) => Buffer.alloc(n, 0x5a));
      expect(referenceChecksum(p.subarray(0, 20)), `ip header, ${size} B`).to.equal(0);
      const pseudo = Buffer.concat([src, dst, Buffer.from([0, 17]), Buffer.from([(size + 8) >> 8, (size + 8) & 0xff]), p.subarray(20)]);
      expect(referenceChecksum(pseudo), `udp, ${size} B`).to.equal(0);
      const ip = parseIPv4Packet(p)!;
      const udp = parseUdp(ip)!;
      expect(udp.sourcePort).to.equal(40000);
      expect(udp.destinationPort).to.equal(8090);
      expect(Buffer.from(udp.payload).equals(payload)).to.equal(true);
    }
  });

  it('parses a UDP packet laid out by hand, byte by byte', () => {
    // 10.99.0.1:45000 → 10.99.0.2:7000, payload "hi\n", checksums from the reference sum.
    const ipHeader = hex('4500 001f 1c46 4000 4011 0000 0a63 0001 0a63 0002');
    ipHeader.writeUInt16BE(referenceChecksum(ipHeader), 10);
    const udp = hex('afc8 1b58 000b 0000 6869 0a');
    const pseudo = Buffer.concat([ipHeader.subarray(12, 20), hex('0011 000b'), udp]);
    udp.writeUInt16BE(referenceChecksum(pseudo), 6);
    const d = parseUdp(parseIPv4Packet(Buffer.concat([ipHeader, udp]))!)!;
    expect(d.sourcePort).to.equal(45000);
    expect(Buffer.from(d.payload).toString()).to.equal('hi\n');
  });

  it('rejects a bad header checksum, a bad UDP checksum, truncation and fragments; accepts UDP checksum 0', () => {
    const p = buildUdpPacket(parseIPv4('10.0.0.1')!, parseIPv4('10.0.0.2')!, 1, 2, Buffer.from('data'));
    const badIp = Buffer.from(p); badIp[10] ^= 1;
    expect(parseIPv4Packet(badIp)).to.equal(null);
    const badUdp = Buffer.from(p); badUdp[30] ^= 1;
    expect(parseUdp(parseIPv4Packet(badUdp)!)).to.equal(null);
    const noSum = Buffer.from(p); noSum.writeUInt16BE(0, 26);
    expect(parseUdp(parseIPv4Packet(noSum)!)).to.not.equal(null);
    expect(parseIPv4Packet(p.subarray(0, p.length - 1))).to.equal(null);
    const frag = Buffer.from(p); frag[6] |= 0x20; frag.writeUInt16BE(0, 10); frag.writeUInt16BE(internetChecksum(frag.subarray(0, 20)), 10);
    expect(parseIPv4Packet(frag)!.fragment).to.equal(true);
    expect(parseUdp(parseIPv4Packet(frag)!)).to.equal(null);
  });

  it('keeps the packet and drops WireGuard padding after the total length', () => {
    const p = buildUdpPacket(parseIPv4('10.0.0.1')!, parseIPv4('10.0.0.2')!, 1, 2, Buffer.from('abc'));
    const padded = Buffer.concat([p, Buffer.alloc(13)]);
    const ip = parseIPv4Packet(padded)!;
    expect(ip.packet.length).to.equal(p.length);
    expect(Buffer.from(parseUdp(ip)!.payload).toString()).to.equal('abc');
  });

  it('answers an ICMP echo request with a matching, correctly summed echo reply', () => {
    const req = buildIcmpEcho(parseIPv4('10.99.0.1')!, parseIPv4('10.99.0.2')!, 0x1234, 7, Buffer.from('ping data 0123456789'));
    const reply = icmpEchoReply(parseIPv4Packet(req)!)!;
    const ip = parseIPv4Packet(reply)!;
    expect(Array.from(ip.source)).to.deep.equal([10, 99, 0, 2]);
    expect(Array.from(ip.destination)).to.deep.equal([10, 99, 0, 1]);
    expect(ip.payload[0]).to.equal(0);
    expect(referenceChecksum(ip.payload)).to.equal(0);
    expect(Buffer.from(ip.payload.subarray(4)).equals(req.subarray(24))).to.equal(true);
    // A reply is not answered, nor is an echo request with a broken checksum.
    expect(icmpEchoReply(ip)).to.equal(null);
    const broken = Buffer.from(req); broken[30] ^= 0xff;
    expect(icmpEchoReply(parseIPv4Packet(broken)!)).to.equal(null);
  });

  it('parses dotted quads strictly', () => {
    expect(Array.from(parseIPv4('192.0.2.255')!)).to.deep.equal([192, 0, 2, 255]);
    for (const bad of ['256.0.0.1', '1.2.3', '01.2.3.4', '1.2.3.4 ', 'a.b.c.d']) expect(parseIPv4(bad), bad).to.equal(null);
  });

  describe('fragments', () => {
    const big = buildUdpPacket(parseIPv4('10.99.0.2')!, parseIPv4('10.99.0.1')!, 7000, 45000,
      Buffer.from(Array.from({ length: 3000 }, (_, i) => i & 0xff)));

    it('splits a packet larger than the MTU into valid fragments on 8-byte boundaries', () => {
      const frags = fragmentIPv4(big, 1420);
      expect(frags).to.have.length(3);
      let expectedOffset = 0;
      frags.forEach((f, i) => {
        const ip = parseIPv4Packet(f)!;
        expect(f.length).to.be.at.most(1420);
        expect(ip.fragmentOffset).to.equal(expectedOffset);
        expect(ip.moreFragments).to.equal(i < frags.length - 1);
        expect(ip.id).to.equal(big.readUInt16BE(4));
        if (ip.moreFragments) expect(ip.payload.length % 8).to.equal(0);
        expectedOffset += ip.payload.length;
      });
      expect(expectedOffset).to.equal(big.length - 20);
      expect(fragmentIPv4(big.subarray(0, 1420) as Buffer, 1420)).to.have.length(1);
      const df = Buffer.from(big); df[6] |= 0x40; df.writeUInt16BE(0, 10); df.writeUInt16BE(internetChecksum(df.subarray(0, 20)), 10);
      expect(fragmentIPv4(df, 1420)).to.deep.equal([df]);
    });

    it('still reassembles after many datagrams lost a fragment: the oldest unfinished ones give way', () => {
      // Under load the kernel drops datagrams, so some fragments never come; those unfinished
      // datagrams must not take every place for the 30 s timeout (they did: nothing reassembled).
      const r = createReassembler();
      const src = parseIPv4('10.99.0.2')!;
      const dst = parseIPv4('10.99.0.1')!;
      for (let i = 0; i < 200; i++) {
        const frags = fragmentIPv4(buildUdpPacket(src, dst, 7000, 45000, Buffer.alloc(1400, i)), 1420).map((f) => parseIPv4Packet(f)!);
        expect(frags).to.have.length(2);
        if (i % 2 === 0) {
          expect(r.add(frags[0], i), `datagram ${i}, half lost`).to.equal(null);
        } else {
          expect(r.add(frags[0], i)).to.equal(null);
          expect(r.add(frags[1], i), `datagram ${i}`).to.not.equal(null);
        }
      }
    });

    it('reassembles fragments in any order into the original datagram', () => {
      const frags = fragmentIPv4(big, 1000).map((f) => parseIPv4Packet(f)!);
      const r = createReassembler();
      const order = [2, 0, 3, 1];
      let whole = null;
      for (const [n, i] of order.entries()) {
        whole = r.add(frags[i], 0);
        expect(whole === null, `after ${n + 1} fragments`).to.equal(n < order.length - 1);
      }
      expect(Buffer.from(whole!.packet).equals(big)).to.equal(true);
      expect(parseUdp(whole!)!.payload.length).to.equal(3000);
    });

    it('voids a datagram with overlapping fragments, and forgets incomplete ones after the timeout', () => {
      const frags = fragmentIPv4(big, 1000).map((f) => parseIPv4Packet(f)!);
      const r = createReassembler(30_000);
      r.add(frags[0], 0);
      const overlapping = parseIPv4Packet(fragmentIPv4(big, 1420)[0])!;
      expect(r.add(overlapping, 0)).to.equal(null);
      // The datagram was voided: the remaining fragments alone never complete it.
      for (const f of frags.slice(1)) expect(r.add(f, 0)).to.equal(null);

      const r2 = createReassembler(30_000);
      r2.add(frags[0], 0);
      r2.add(frags[1], 0);
      r2.add(frags[2], 0);
      expect(r2.add(frags[3], 30_001)).to.equal(null);
    });

    it('holds at most maxPending datagrams in progress: a new one pushes out the oldest', () => {
      const r = createReassembler(30_000, 2);
      const first = (id: number) => {
        const p = Buffer.from(big); p.writeUInt16BE(id, 4); p.writeUInt16BE(0, 10); p.writeUInt16BE(internetChecksum(p.subarray(0, 20)), 10);
        return fragmentIPv4(p, 1000).map((f) => parseIPv4Packet(f)!);
      };
      const [a, b, c] = [first(1), first(2), first(3)];
      r.add(a[0], 0);
      r.add(b[0], 0);
      let done = null;
      for (const f of c) done = r.add(f, 0);
      expect(done, 'the third datagram, with two in progress').to.not.equal(null);
      for (const f of a.slice(1)) expect(r.add(f, 0), 'the oldest, pushed out').to.equal(null);
      for (const f of b.slice(1)) done = r.add(f, 0);
      expect(done, 'the second, kept').to.not.equal(null);
    });
  });
});
