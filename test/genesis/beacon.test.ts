import { expect } from 'chai';
import { createSecretKey, randomBytes } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { BEACON_LENGTH, BEACON_TYPE, createBeaconChecker, encodeBeacon } from '../../core/genesis/beacon.js';
import { genesisKeyFromSeed } from '../../core/genesis/signing-key.js';
import { encodePacket } from '../../core/protocol/packet.js';

describe('genesis beacon', () => {
  const key = genesisKeyFromSeed(randomBytes(32));
  const other = genesisKeyFromSeed(randomBytes(32));
  const join = { host: '192.0.2.1', port: 9444 };
  const now = 1_800_000_000_000;
  const checker = (lastAccepted = 0) => createBeaconChecker({ authorityKey: key.publicKey, freshnessMs: 60_000, lastAccepted, now: () => now });

  it('has the layout of docs/genesis.md: version bits 10, key, endpoint, time, Ed25519 signature', () => {
    const b = encodeBeacon(key, join, now);
    expect(b.length).to.equal(BEACON_LENGTH).and.equal(111);
    expect(b[0]).to.equal(BEACON_TYPE);
    expect(b[0] >> 6).to.equal(0b10);
    expect(b.subarray(1, 33).equals(key.publicKey)).to.equal(true);
    expect([...b.subarray(33, 37)]).to.deep.equal([192, 0, 2, 1]);
    expect(b.readUInt16BE(37)).to.equal(9444);
    expect(Number(b.readBigUInt64BE(39))).to.equal(now);
    // Checked with an independent Ed25519 (noble) over the documented message.
    const signed = Buffer.concat([Buffer.from('ppn/beacon/v1'), b.subarray(0, 47)]);
    expect(ed25519.verify(b.subarray(47), signed, key.publicKey)).to.equal(true);
  });

  it('accepts a fresh beacon from the pinned authority and gives its join endpoint', () => {
    const result = checker().check(encodeBeacon(key, join, now - 1000));
    expect(result).to.deep.include({ ok: true, joinEndpoint: join, at: now - 1000 });
  });

  it('ignores and counts forged beacons: any flipped bit, another key, a foreign signature', () => {
    const c = checker();
    const good = encodeBeacon(key, join, now);
    for (let bit = 0; bit < BEACON_LENGTH * 8; bit += 7) {
      const bad = Buffer.from(good);
      bad[bit >> 3] ^= 1 << (bit & 7);
      expect(c.check(bad).ok, `bit ${bit}`).to.equal(false);
    }
    const impostor = encodeBeacon(other, join, now);
    expect(c.check(impostor)).to.deep.equal({ ok: false, reason: 'unknown-authority' });
    const spliced = Buffer.concat([good.subarray(0, 47), impostor.subarray(47)]);
    expect(c.check(spliced)).to.deep.equal({ ok: false, reason: 'forged' });
    expect(c.rejected.forged).to.be.greaterThan(10);
    expect(c.rejected['not-a-beacon']).to.be.greaterThan(0);
    expect(c.check(good).ok).to.equal(true);
  });

  it('ignores stale beacons and replays, also across a restart (last accepted time kept)', () => {
    const c = checker();
    expect(c.check(encodeBeacon(key, join, now - 61_000))).to.deep.equal({ ok: false, reason: 'stale' });
    expect(c.check(encodeBeacon(key, join, now + 61_000))).to.deep.equal({ ok: false, reason: 'stale' });
    const first = encodeBeacon(key, join, now - 5000);
    expect(c.check(first).ok).to.equal(true);
    expect(c.check(first)).to.deep.equal({ ok: false, reason: 'replayed' });
    expect(c.check(encodeBeacon(key, join, now - 6000))).to.deep.equal({ ok: false, reason: 'replayed' });
    expect(c.rejected).to.include({ stale: 2, replayed: 2 });
    expect(checker(c.lastAccepted).check(first)).to.deep.equal({ ok: false, reason: 'replayed' });
  });

  it('is never taken for a command packet, nor a command packet for it', () => {
    const command = encodePacket({ epoch: 0, opcode: 1, arg: 0, selector: 2 }, 1n, createSecretKey(randomBytes(32)));
    expect(checker().check(command)).to.deep.equal({ ok: false, reason: 'not-a-beacon' });
    expect(checker().check(Buffer.alloc(0))).to.deep.equal({ ok: false, reason: 'not-a-beacon' });
  });
});
