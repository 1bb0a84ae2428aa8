// The telemetry report (0xC3, docs/protocol.md): encode, verify, and refuse with a reason —
// forged, replayed, old, ahead of the clock, truncated, oversize, malformed facts.
import { expect } from 'chai';
import { createHmac } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deriveHmacKey, pairSecret } from '../../core/protocol/key-derivation.js';
import { createReportSigner, createReportVerifier, MAX_REPORT_BODY, MAX_REPORT_LENGTH, REPORT_TYPE, reportFreshness } from '../../core/protocol/report.js';
import { factsSummary, fitFacts, type ReportFacts } from '../../core/protocol/report-facts.js';
import { collectFacts } from '../../core/protocol/report-collect.js';
import { openRegistry } from '../../core/registry/registry.js';
import { pairing } from '../protocol/fixtures/setup.js';

export const FACTS: ReportFacts = {
  everySeconds: 15,
  uptimeS: 120,
  version: '0.1.0',
  load: [0.5, 0.25, 0.1],
  rssBytes: 80_000_000,
  diskFreeBytes: 12_000_000_000,
  stages: { ingress: 'running', executor: 'running', report: 'running' },
  drops: { total: 3, top: { 'not-from-authority': 2, 'replay': 1 } },
  peers: [
    { name: 'cloud-relay', address: '10.8.0.1', state: 'up', path: 'direct', rttMs: 0.4, handshakeAgeS: 10 },
    { name: 'leased', address: '10.8.0.3', state: 'up', path: 'relayed' },
  ],
  peerPaths: { direct: 1, relayed: 1 },
};

const setup = (clock = () => 1_000_000) => {
  const p = pairing();
  const signer = createReportSigner({ nodeSecret: p.node.secret, authorityPublic: p.authority.publicKey, nodeId: p.nodeId, clock });
  const verifier = createReportVerifier({ authoritySecret: p.authority.secret, nodePublicKey: (id) => (id === p.nodeId ? p.node.publicKey : undefined) });
  /** A datagram with any body, tagged with the node's real telemetry key: only the body is wrong. */
  const signedBody = (body: Buffer, epoch = 0) => {
    const out = Buffer.alloc(13 + body.length + 16);
    out[0] = REPORT_TYPE;
    out[1] = epoch;
    out[2] = p.nodeId;
    out.writeBigUInt64BE(5n, 3);
    out.writeUInt16BE(body.length, 11);
    body.copy(out, 13);
    const key = deriveHmacKey(pairSecret(p.node.secret, p.authority.publicKey), 'telemetry', epoch, p.nodeId);
    createHmac('sha256', key).update(out.subarray(0, 13 + body.length)).digest().subarray(0, 16).copy(out, 13 + body.length);
    return out;
  };
  return { p, signer, verifier, signedBody };
};

describe('telemetry report: encode and verify', () => {
  it('round-trips node, epoch, sequence and facts under the telemetry key, in one datagram', () => {
    const { signer, verifier } = setup();
    const { datagram, seq, facts } = signer.encode(4, FACTS);
    expect(datagram[0]).to.equal(0xc3);
    expect(datagram.length).to.be.at.most(MAX_REPORT_LENGTH);
    expect(facts).to.deep.equal(FACTS);
    expect(verifier.verify(datagram)).to.deep.equal({ ok: true, epoch: 4, nodeId: 3, seq, facts: FACTS });
  });

  it('takes its sequence from the clock and keeps it strictly increasing when the clock stands still or goes back', () => {
    let t = 5_000;
    const { signer } = setup(() => t);
    const seqs = [signer.encode(0, FACTS).seq, signer.encode(0, FACTS).seq];
    t = 4_000;
    seqs.push(signer.encode(0, FACTS).seq);
    t = 9_000;
    seqs.push(signer.encode(0, FACTS).seq);
    expect(seqs).to.deep.equal([5_000, 5_001, 5_002, 9_000]);
  });

  it('refuses every single-bit flip, with a reason', () => {
    const { signer, verifier } = setup();
    const { datagram } = signer.encode(0, FACTS);
    const reasons = new Set<string>();
    for (let bit = 0; bit < datagram.length * 8; bit++) {
      const flipped = Buffer.from(datagram);
      flipped[bit >> 3] ^= 0x80 >> (bit & 7);
      const r = verifier.verify(flipped);
      expect(r.ok, `bit ${bit}`).to.equal(false);
      if (!r.ok) reasons.add(r.reason);
    }
    expect([...reasons].sort()).to.deep.equal(['epoch', 'length', 'tag', 'type', 'unknown-node']);
  });

  it('refuses a forgery under another key, truncated and oversize datagrams, and unknown nodes', () => {
    const { p, verifier } = setup();
    const stranger = createReportSigner({ nodeSecret: pairing().node.secret, authorityPublic: p.authority.publicKey, nodeId: p.nodeId });
    const forged = stranger.encode(0, FACTS).datagram;
    expect(verifier.verify(forged)).to.deep.equal({ ok: false, reason: 'tag' });
    const { datagram } = setup().signer.encode(0, FACTS);
    const own = createReportSigner({ nodeSecret: p.node.secret, authorityPublic: p.authority.publicKey, nodeId: p.nodeId }).encode(0, FACTS).datagram;
    expect(verifier.verify(own).ok).to.equal(true);
    expect(verifier.verify(own.subarray(0, own.length - 1))).to.deep.equal({ ok: false, reason: 'length' });
    expect(verifier.verify(own.subarray(0, 20))).to.deep.equal({ ok: false, reason: 'length' });
    expect(verifier.verify(Buffer.concat([own, Buffer.alloc(1)]))).to.deep.equal({ ok: false, reason: 'length' });
    expect(verifier.verify(Buffer.alloc(MAX_REPORT_LENGTH + 1, REPORT_TYPE))).to.deep.equal({ ok: false, reason: 'length' });
    const otherNode = Buffer.from(datagram);
    otherNode[2] = 9;
    expect(verifier.verify(otherNode)).to.deep.equal({ ok: false, reason: 'unknown-node' });
    // A command packet, an ack's type byte: not a report.
    const command = Buffer.from(own);
    command[0] = 0x40;
    expect(verifier.verify(command)).to.deep.equal({ ok: false, reason: 'type' });
  });

  it('refuses a correctly tagged body that is not JSON, or not facts within the limits, naming the field', () => {
    const { verifier, signedBody } = setup();
    expect(verifier.verify(signedBody(Buffer.from('{"every')))).to.deep.equal({ ok: false, reason: 'body' });
    expect(verifier.verify(signedBody(Buffer.from([0xff, 0xfe])))).to.deep.equal({ ok: false, reason: 'body' });
    const bad = (patch: Record<string, unknown>) => verifier.verify(signedBody(Buffer.from(JSON.stringify({ ...FACTS, ...patch }))));
    expect(bad({ everySeconds: 0 })).to.deep.include({ reason: 'facts', field: 'everySeconds' });
    expect(bad({ version: 'v\u001b[2J' })).to.deep.include({ reason: 'facts', field: 'version' });
    expect(bad({ load: [1, 2] })).to.deep.include({ reason: 'facts', field: 'load' });
    expect(bad({ peers: Array.from({ length: 33 }, (_, i) => ({ name: `p${i}` })) })).to.deep.include({ reason: 'facts', field: 'peers' });
    expect(bad({ stages: { a: 7 } })).to.deep.include({ reason: 'facts', field: 'stages' });
    expect(bad({ syncSeq: 1.5 })).to.deep.include({ reason: 'facts', field: 'syncSeq' });
    expect(bad({ syncSeq: -1 })).to.deep.include({ reason: 'facts', field: 'syncSeq' });
    // Unknown fields are not kept: nothing but facts reaches the registry.
    const extra = bad({ command: 'reboot' });
    expect(extra.ok).to.equal(true);
    expect(extra).to.not.have.nested.property('facts.command');
  });

  it('cuts lists (peers first) to fit one datagram and says so', () => {
    const many: ReportFacts = { ...FACTS, peers: Array.from({ length: 200 }, (_, i) => ({ name: `peer-with-a-long-name-${i}`, address: `10.8.0.${i % 250}`, state: 'up', path: 'relayed', rttMs: 12.5 })), peerPaths: { relayed: 200 } };
    const { signer, verifier } = setup();
    const { datagram, facts } = signer.encode(0, many);
    expect(datagram.length).to.be.at.most(MAX_REPORT_LENGTH);
    expect(facts.truncated).to.equal(true);
    expect(facts.peers.length).to.be.within(1, 31);
    expect(facts.stages).to.deep.equal(FACTS.stages);
    expect(facts.peerPaths, 'every peer is still counted').to.deep.equal({ relayed: 200 });
    const r = verifier.verify(datagram);
    expect(r.ok && r.facts.peers.length).to.equal(facts.peers.length);
    expect(fitFacts(FACTS, MAX_REPORT_BODY).facts).to.not.have.property('truncated');
  });
});

describe('telemetry report: freshness and the registry', () => {
  it('takes only reports newer than the last, and none ahead of the clock by more than the skew', () => {
    expect(reportFreshness(10, undefined, 100, 50)).to.equal('fresh');
    expect(reportFreshness(11, 10, 100, 50)).to.equal('fresh');
    expect(reportFreshness(10, 10, 100, 50)).to.equal('replayed');
    expect(reportFreshness(9, 10, 100, 50)).to.equal('old');
    expect(reportFreshness(151, undefined, 100, 50)).to.equal('future');
  });

  it('keeps one latest report per node in SQLite, refusing replays and older ones, and touches the node', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ppn-report-'));
    let now = Date.parse('2026-12-01T12:00:00Z');
    const registry = openRegistry(join(dir, 'admin.db'), () => now);
    try {
      registry.upsertNode({ id: 3, name: 'leased', aliases: [], address: '10.8.0.3', role: 'os-infrastructure', groups: [], takesCommands: true, publicKey: 'A'.repeat(43) + '=', status: 'active' }, 'test');
      const events: string[] = [];
      registry.onChange((e) => events.push(e.type));
      expect(registry.recordReport({ nodeId: 3, seq: now - 5, facts: FACTS }, 60_000)).to.equal('fresh');
      now += 15_000;
      expect(registry.recordReport({ nodeId: 3, seq: now - 5, facts: { ...FACTS, uptimeS: 135 } }, 60_000)).to.equal('fresh');
      expect(registry.recordReport({ nodeId: 3, seq: now - 5, facts: FACTS }, 60_000)).to.equal('replayed');
      expect(registry.recordReport({ nodeId: 3, seq: now - 20_000, facts: FACTS }, 60_000)).to.equal('old');
      expect(registry.recordReport({ nodeId: 3, seq: now + 61_000, facts: FACTS }, 60_000)).to.equal('future');
      const node = registry.node(3)!;
      expect(node.report).to.deep.equal({ receivedAt: new Date(now).toISOString(), seq: now - 5, facts: { ...FACTS, uptimeS: 135 } });
      expect(node.lastSeen).to.equal(new Date(now).toISOString());
      expect(registry.db.prepare('SELECT count(*) AS n FROM node_reports').get()).to.deep.equal({ n: 1 });
      // A heartbeat is its own event: membership followers (listening to 'node') are not woken.
      expect(events).to.deep.equal(['report', 'report']);
      expect(registry.fleet().nodes[0]).to.not.have.property('report');
    } finally {
      registry.close();
    }
  });
});

describe('telemetry report: facts', () => {
  it("collects the node's facts from the host's and the mesh's status", () => {
    const facts = collectFacts({
      everySeconds: 15,
      instanceDir: tmpdir(),
      host: { stages: { a: { state: 'running' }, b: { state: 'failed' } }, drops: { x: 1, y: 4 } },
      mesh: {
        peers: [{ publicKey: 'k', allowedIPs: ['10.8.0.1/32'], state: 'up', lastHandshake: 1_000 }],
        paths: { peers: [{ name: 'cloud-relay', address: '10.8.0.1', path: 'direct', rttMs: 0.3, lastHandshake: 1_000 }] },
      },
      now: 11_000,
    });
    expect(facts).to.deep.include({ everySeconds: 15, stages: { a: 'running', b: 'failed' }, drops: { total: 5, top: { y: 4, x: 1 } } });
    expect(facts.peers).to.deep.equal([{ name: 'cloud-relay', address: '10.8.0.1', state: 'up', path: 'direct', rttMs: 0.3, handshakeAgeS: 10 }]);
    expect(facts.peerPaths).to.deep.equal({ direct: 1 });
    expect(facts.version).to.match(/^\d+\.\d+\.\d+/);
    expect(facts.rssBytes).to.be.above(0);
    expect(facts.diskFreeBytes).to.be.a('number');
  });

  it('summarises the facts for an ack in at most 200 bytes of JSON', () => {
    const summary = factsSummary({ ...FACTS, stages: Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`stage-with-a-long-id-${i}`, 'failed'])) }, 200);
    expect(Buffer.byteLength(summary)).to.be.at.most(200);
    const parsed = JSON.parse(summary);
    expect(parsed).to.deep.include({ v: '0.1.0', up: 120, drops: 3, peers: { direct: 1, relayed: 1 } });
    expect(JSON.parse(factsSummary(FACTS, 200))).to.deep.include({ stages: 3, down: [], rssMB: 80, diskGB: 12 });
  });
});
