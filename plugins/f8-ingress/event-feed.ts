// Live changes for the operator's page: every node and command the registry changes, as the full
// record, and what the registry does not announce itself — a command's unanswered targets turning
// into 'no-answer' at its deadline, and a node's "last heard" moving when its ack arrives.
import type { ServerResponse } from 'node:http';
import type { CommandRecord, Registry, RegistryNode } from '../../core/sdk/index.js';
import { securityHeaders } from './http.js';

export type FeedEvent = { type: 'node'; node: RegistryNode } | { type: 'command'; command: CommandRecord };

export interface EventFeed {
  subscribe(listener: (event: FeedEvent) => void): () => void;
  close(): void;
}

export function createEventFeed(registry: Registry, clock: () => number = Date.now): EventFeed {
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
    publish({ type: 'node', node });
  };

  const publishCommand = (id: string) => {
    const command = registry.command(id);
    if (!command) return;
    publish({ type: 'command', command });
    // An ack touches its node just before it marks the target; the touch has no event of its own.
    for (const t of command.targets) {
      if (registry.node(t.nodeId)?.lastSeen !== lastSeenPublished.get(t.nodeId)) publishNode(t.nodeId);
    }
    watchDeadline(command);
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
    if (event.type === 'node') publishNode(event.nodeId);
    else publishCommand(event.id);
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
      listeners.clear();
    },
  };
}

/**
 * Answers GET /v1/events as a server-sent event stream: "ready" first (from then on nothing is
 * missed, so the page loads its snapshot after it), then "node" and "command" events, and a
 * comment now and then so that idle connections are not cut by whatever sits in between.
 */
export function streamEvents(feed: EventFeed, res: ServerResponse, keepAliveMs = 15_000): void {
  res.writeHead(200, {
    ...securityHeaders,
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    'x-accel-buffering': 'no',
  });
  const frame = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  frame('ready', {});
  const unsubscribe = feed.subscribe((event) => frame(event.type, event.type === 'node' ? event.node : event.command));
  const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), keepAliveMs);
  keepAlive.unref();
  res.once('close', () => {
    unsubscribe();
    clearInterval(keepAlive);
  });
}
