// Live changes for the operator's page: every node and command the registry changes, as the full
// record, and what the registry does not announce itself — a command's unanswered targets turning
// into 'no-answer' at its deadline, and a node's "last heard" moving when its ack arrives.
// A command's acks arrive in a burst (252 for `ping everyone` on a full /24): its first change
// is published at once, and those that follow within COMMAND_COALESCE_MS as one record after
// them, so the page gets a few records of 252 targets rather than 252 of them.
import type { ServerResponse } from 'node:http';
import type { CommandRecord, Registry, RegistryNode } from '../../core/sdk/index.js';
import { securityHeaders } from './http.js';

export type FeedEvent = { type: 'node'; node: RegistryNode } | { type: 'command'; command: CommandRecord };

export interface EventFeed {
  subscribe(listener: (event: FeedEvent) => void): () => void;
  close(): void;
}

/** `present` adds what the page shows beside the record (F8 adds each node's health). */
export const COMMAND_COALESCE_MS = 100;

export function createEventFeed(registry: Registry, clock: () => number = Date.now, present: (node: RegistryNode) => RegistryNode = (n) => n): EventFeed {
  const listeners = new Set<(event: FeedEvent) => void>();
  const deadlineTimers = new Map<string, NodeJS.Timeout>();
  const lastSeenPublished = new Map<number, string | undefined>();
  const publish = (event: FeedEvent) => {
    for (const l of listeners) l(event);
  };

  const publishNode = (id: number) => {
    const node = registry.node(id);
    if (!node) return;
    lastSeenPublished.set(id, node.lastSeen);
    publish({ type: 'node', node: present(node) });
  };

  /**
   * Publishes the command, then the nodes whose acks changed it (`answered`; all its targets when
   * not known): an ack touches its node just before it marks the target, and the touch has no
   * event of its own.
   */
  const publishCommand = (id: string, answered?: Iterable<number>) => {
    const command = registry.command(id);
    if (!command) return;
    publish({ type: 'command', command });
    for (const nodeId of answered ?? command.targets.map((t) => t.nodeId)) {
      if (registry.node(nodeId)?.lastSeen !== lastSeenPublished.get(nodeId)) publishNode(nodeId);
    }
    watchDeadline(command);
  };

  /** Commands published within the last COMMAND_COALESCE_MS: whether they changed since, and whose acks. */
  const holding = new Map<string, { changed: boolean; answered: Set<number>; timer: NodeJS.Timeout }>();
  const hold = (id: string) => {
    const timer = setTimeout(() => {
      holding.delete(id);
      if (!held.changed || !listeners.size) return;
      publishCommand(id, held.answered);
      hold(id);
    }, COMMAND_COALESCE_MS);
    timer.unref();
    const held = { changed: false, answered: new Set<number>(), timer };
    holding.set(id, held);
  };
  const commandChanged = (id: string, nodeId: number | undefined) => {
    const held = holding.get(id);
    if (held) {
      held.changed = true;
      if (nodeId !== undefined) held.answered.add(nodeId);
      return;
    }
    publishCommand(id, nodeId === undefined ? undefined : [nodeId]);
    hold(id);
  };

  // Status 'no-answer' is computed when a record is read after its deadline, so nothing would
  // tell the page; one timer per command that still has targets waiting reads it again then.
  const watchDeadline = ({ id, deadline, targets }: Pick<CommandRecord, 'id' | 'deadline' | 'targets'>) => {
    if (deadlineTimers.has(id) || !targets.some((t) => t.status === 'sent')) return;
    const timer = setTimeout(() => {
      deadlineTimers.delete(id);
      // Timers may wake a millisecond before the wall clock agrees the deadline has passed.
      if (clock() <= deadline) watchDeadline({ id, deadline, targets });
      else if (listeners.size) publishCommand(id);
    }, Math.max(0, deadline - clock()) + 1);
    timer.unref();
    deadlineTimers.set(id, timer);
  };

  const stopWatchingRegistry = registry.onChange((event) => {
    if (!listeners.size) return;
    if (event.type === 'command') commandChanged(event.id, event.target?.nodeId);
    else publishNode(event.nodeId);
  });

  return {
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      stopWatchingRegistry();
      for (const timer of deadlineTimers.values()) clearTimeout(timer);
      deadlineTimers.clear();
      for (const held of holding.values()) clearTimeout(held.timer);
      holding.clear();
      listeners.clear();
    },
  };
}

export interface StreamLimits {
  /** Streams open at once; one more is refused (503). */
  maxStreams: number;
  /** Bytes a stream may hold unsent (its reader is slow); past that it is dropped. */
  maxBufferedBytes: number;
  /** How long a stream may stay unable to send (its reader stopped) before it is dropped. */
  stallMs: number;
  /** A comment this often keeps idle connections from being cut by whatever sits in between. */
  keepAliveMs: number;
}

export interface EventStreams {
  /** Answers GET /v1/events on `res`; false (nothing written) when the cap is reached. */
  open(res: ServerResponse): boolean;
  status(): { open: number; bufferedBytes: number };
  closeAll(): void;
}

/**
 * GET /v1/events as server-sent event streams: "ready" first (from then on nothing is missed, so
 * the page loads its snapshot after it), then "node" and "command" events. A reader that falls
 * behind is dropped — the others go on, and memory stays bounded by maxStreams × maxBufferedBytes;
 * the page's EventSource reconnects and reloads its snapshot.
 */
export function createEventStreams(feed: EventFeed, limits: StreamLimits, count: (what: string) => void): EventStreams {
  const open = new Set<ServerResponse>();
  return {
    open(res) {
      if (open.size >= limits.maxStreams) {
        count('refused.event-stream-cap');
        return false;
      }
      open.add(res);
      count('event-streams');
      res.writeHead(200, {
        ...securityHeaders,
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-accel-buffering': 'no',
      });
      let stalled: NodeJS.Timeout | undefined;
      const drop = (why: 'slow' | 'stalled') => {
        count(`event-streams.dropped-${why}`);
        open.delete(res);
        res.destroy();
      };
      const write = (text: string) => {
        if (res.destroyed) return;
        if (res.writableLength + Buffer.byteLength(text) > limits.maxBufferedBytes) return drop('slow');
        if (!res.write(text) && !stalled) stalled = setTimeout(() => drop('stalled'), limits.stallMs);
      };
      res.on('drain', () => {
        clearTimeout(stalled);
        stalled = undefined;
      });
      const frame = (event: string, data: unknown) => write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      frame('ready', {});
      const unsubscribe = feed.subscribe((event) => frame(event.type, event.type === 'node' ? event.node : event.command));
      const keepAlive = setInterval(() => write(': keep-alive\n\n'), limits.keepAliveMs);
      keepAlive.unref();
      res.once('close', () => {
        open.delete(res);
        unsubscribe();
        clearInterval(keepAlive);
        clearTimeout(stalled);
      });
      return true;
    },
    status: () => ({ open: open.size, bufferedBytes: [...open].reduce((n, r) => n + r.writableLength, 0) }),
    closeAll() {
      for (const res of open) res.destroy();
    },
  };
}
