// The live feed behind GET /v1/events, on a registry of its own: what it publishes, and the
// changes it must publish although the registry announces none.
import { expect } from 'chai';
import { join } from 'node:path';
import { createEventFeed, type EventFeed, type FeedEvent } from '../../plugins/f8-ingress/event-feed.js';
import { formatKey, generateSecret, publicKeyOf } from '../../core/keys/index.js';
import { openRegistry, type Registry } from '../../core/registry/registry.js';
import { scratchDir } from '../support/pipeline.js';

describe('f8-ingress event feed', () => {
  let registry: Registry;
  let feed: EventFeed;
  let events: FeedEvent[];
  let waiters: { match: (e: FeedEvent) => boolean; resolve: (e: FeedEvent) => void }[];

  /** The first event (already published or to come) that matches. */
  const next = (match: (e: FeedEvent) => boolean) =>
    new Promise<FeedEvent>((resolve) => {
      const seen = events.find(match);
      if (seen) resolve(seen);
      else waiters.push({ match, resolve });
    });

  const node = (id: number, status: 'pending' | 'active' = 'active') => ({
    id,
    name: `node-${id}`,
    aliases: [],
    address: `10.8.0.${id}`,
    role: 'os-infrastructure',
    groups: [],
    takesCommands: true,
    publicKey: formatKey(publicKeyOf(generateSecret())),
    status,
  });

  const record = (counter: number, deadline: number) =>
    registry.recordCommand({
      id: `c0-${counter}`,
      at: new Date().toISOString(),
      actor: 'operator',
      text: 'ping node-2',
      intent: 'ping',
      opcode: 1,
      arg: 0,
      target: 'node-2',
      selector: 2,
      epoch: 0,
      counter: String(counter),
      deadline,
      targets: [{ nodeId: 2, name: 'node-2', address: '10.8.0.2', packet: '00'.repeat(16) }],
    });

  beforeEach(() => {
    registry = openRegistry(join(scratchDir('feed'), 'admin.db'));
    registry.upsertNode(node(2), 'test');
    feed = createEventFeed(registry);
    events = [];
    waiters = [];
    feed.subscribe((e) => {
      events.push(e);
      for (const w of [...waiters]) if (w.match(e)) (waiters.splice(waiters.indexOf(w), 1), w.resolve(e));
    });
  });
  afterEach(() => {
    feed.close();
    registry.close();
  });

  it('publishes the full record of each node and command that changes', async () => {
    registry.upsertNode(node(7, 'pending'), 'test');
    registry.setStatus(7, 'active', 'operator');
    record(1, Date.now() + 60_000);
    expect(events.map((e) => (e.type === 'node' ? `node ${e.node.id} ${e.node.status}` : `command ${e.command.id}`))).to.deep.equal([
      'node 7 pending',
      'node 7 active',
      'command c0-1',
    ]);
    const command = events[2] as Extract<FeedEvent, { type: 'command' }>;
    expect(command.command.targets[0]).to.include({ name: 'node-2', status: 'sent' });
  });

  it("publishes an unanswered target as 'no-answer' when its deadline passes, once", async () => {
    record(2, Date.now() + 50);
    const late = await next((e) => e.type === 'command' && e.command.targets[0].status === 'no-answer');
    expect((late as Extract<FeedEvent, { type: 'command' }>).command.id).to.equal('c0-2');
    expect(events.filter((e) => e.type === 'command')).to.have.length(2);
  });

  it("publishes the node's new 'last heard' with the command its ack answered", async () => {
    record(3, Date.now() + 60_000);
    registry.touch(2);
    registry.markTarget(0, '3', 2, 'executed', 'pong');
    const heard = await next((e) => e.type === 'node' && e.node.id === 2);
    expect((heard as Extract<FeedEvent, { type: 'node' }>).node.lastSeen).to.be.a('string');
    // The next change to the command does not repeat an unchanged node.
    registry.markTarget(0, '3', 2, 'executed', 'pong again');
    await next((e) => e.type === 'command' && e.command.targets[0].detail === 'pong again');
    expect(events.filter((e) => e.type === 'node')).to.have.length(1);
  });

  it('publishes a burst of acks to one command as a few records, the last with every answer', async () => {
    const targets = Array.from({ length: 200 }, (_, i) => i + 20);
    for (const id of targets) registry.upsertNode(node(id), 'test');
    registry.recordCommand({
      id: 'c0-9', at: new Date().toISOString(), actor: 'operator', text: 'ping everyone', intent: 'ping', opcode: 1, arg: 0, target: 'everyone',
      selector: 0xff, epoch: 0, counter: '9', deadline: Date.now() + 60_000,
      targets: targets.map((id) => ({ nodeId: id, name: `node-${id}`, address: `10.8.0.${id}`, packet: '00'.repeat(16) })),
    });
    for (const id of targets) {
      registry.touch(id);
      registry.markTarget(0, '9', id, 'executed', 'pong');
    }
    const all = await next((e) => e.type === 'command' && e.command.targets.every((t) => t.status === 'executed'));
    expect((all as Extract<FeedEvent, { type: 'command' }>).command.targets).to.have.length(200);
    // The record, the first ack at once, the rest gathered: not one record per ack.
    expect(events.filter((e) => e.type === 'command' && e.command.id === 'c0-9').length).to.be.at.most(3);
    // Every answering node's new 'last heard' is published, once each.
    const heard = events.filter((e) => e.type === 'node' && targets.includes(e.node.id) && e.node.lastSeen);
    expect(new Set(heard.map((e) => (e as Extract<FeedEvent, { type: 'node' }>).node.id)).size).to.equal(200);
  });

  it('stops publishing to a listener that unsubscribed, and entirely once closed', () => {
    const other: FeedEvent[] = [];
    const stop = feed.subscribe((e) => other.push(e));
    stop();
    registry.setStatus(2, 'revoked', 'operator');
    expect(other).to.have.length(0);
    expect(events).to.have.length(1);
    feed.close();
    registry.setStatus(2, 'active', 'operator');
    expect(events).to.have.length(1);
  });
});
