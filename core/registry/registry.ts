// The admin's database: the pairing registry (nodes, groups), the command log with each target's
// status, and the audit log. One SQLite file (WAL, synchronous=FULL) in the admin's instance
// directory; the authority counter keeps its reservations in the same file.
import { commandId } from '../contracts/command.js';
import type { Fleet, FleetGroup, FleetNode } from '../contracts/fleet.js';
import { openAuthorityCounter, type AuthorityCounter } from '../protocol/authority-counter.js';
import { openAckWindows, type AckWindowStore } from '../protocol/ack-windows.js';
import { nextEpoch, ROTATE_KEYS_OPCODE } from '../protocol/key-epochs.js';
import { nodeAddress } from '../fleet/addresses.js';
import { reportFreshness, type ReportFreshness } from '../protocol/report.js';
import type { ReportFacts } from '../protocol/report-facts.js';
import { openDurable, writeTransaction, type Db } from '../storage/durable-db.js';

export type NodeStatus = 'pending' | 'active' | 'revoked';

export interface RegistryNode extends FleetNode {
  /** base64 WireGuard / identity public key. */
  publicKey: string;
  /** Underlay endpoint "a.b.c.d:port" where the node's WireGuard listens, if known. */
  endpoint?: string;
  status: NodeStatus;
  /** When the authority last heard from the node (an authenticated ack), ISO time. */
  lastSeen?: string;
  /** The node's reports that its command key hit the failed-tag cap (someone forged tags at it). */
  keyRetirements?: { count: number; lastAt: string; lastEpoch: number };
  /** The command-key epoch the node's commands are signed under; absent: the authority's own epoch. */
  keyEpoch?: number;
  /** The node's latest telemetry report (heartbeat): when it arrived, its sequence, its facts. */
  report?: NodeReport;
}

export interface NodeReport {
  receivedAt: string;
  seq: number;
  facts: ReportFacts;
}

/**
 * What the authority did with a node's verified identity-change request: recorded (the node
 * moved to `epoch`, bound to the new key), or why not. `already`: the new key is the node's
 * already (the request repeated until the confirmation reached it); nothing changes then.
 */
export type IdentityChangeOutcome =
  | { changed: true; from: string; to: string; epoch: number }
  | { changed: false; reason: 'already' | 'unknown-node' | 'not-active' | 'not-current-epoch' | 'key-in-use' };

/** What the authority did with a node's key-retired report. */
export type KeyRetiredOutcome = { moved: true; epoch: number } | { moved: false; reason: 'not-current-epoch' };

/** What changed, for live views (F8's event stream) and the mesh's peer list. */
/** A command's event names the target whose answer changed it (none: the command was recorded). */
export type RegistryEvent =
  | { type: 'node'; nodeId: number }
  | { type: 'command'; id: string; target?: { nodeId: number; status: TargetStatus } }
  | { type: 'report'; nodeId: number };

export type TargetStatus = 'sent' | 'executed' | 'failed' | 'rejected-by-policy' | 'unknown-intent' | 'no-answer';

export interface CommandRecord {
  id: string;
  at: string;
  actor: string;
  text: string;
  intent: string;
  opcode: number;
  arg: number;
  target: string;
  selector: number;
  epoch: number;
  counter: string;
  /** Epoch ms after which a target that has not answered counts as 'no-answer'. */
  deadline: number;
  targets: { nodeId: number; name: string; address: string; status: TargetStatus; detail: string | null; packet: string }[];
}

export interface Registry {
  readonly db: Db;
  fleet(): Fleet;
  node(id: number): RegistryNode | undefined;
  nodes(): RegistryNode[];
  upsertNode(node: RegistryNode, actor: string): void;
  /** Changes a node's status (approve: 'active', revoke: 'revoked'); false if there is no such node. */
  setStatus(id: number, status: NodeStatus, actor: string): boolean;
  rename(id: number, name: string, actor: string): boolean;
  /**
   * Forgets a node — one never admitted (a rejected or expired join request), or a revoked one
   * whose id is given to a new node — and what is kept per id, so its id is free again; false if
   * there is no such node.
   */
  removeNode(id: number, actor: string): boolean;
  /** Records that an authenticated message came from the node. */
  touch(id: number): void;
  /**
   * Runs `fn` as one write transaction: the writes it makes (each of them a transaction of its
   * own otherwise) commit together, one fsync for all. Change events follow the commit.
   */
  batch<T>(fn: () => T): T;
  /** Calls `listener` after each committed change; returns the way to stop. */
  onChange(listener: (event: RegistryEvent) => void): () => void;
  upsertGroup(group: FleetGroup, actor: string): void;
  recordCommand(command: Omit<CommandRecord, 'targets'> & { targets: Omit<CommandRecord['targets'][number], 'status' | 'detail'>[] }): void;
  /**
   * Sets a target's status; an ack after the deadline still counts (the node did act). The first
   * `executed` of a rotate-keys moves the node's key epoch to the one after `epoch` (audited).
   */
  markTarget(epoch: number, counter: string, nodeId: number, status: TargetStatus, detail?: string): boolean;
  command(id: string): CommandRecord | undefined;
  commands(limit: number): CommandRecord[];
  /** The next page after `commands`: those recorded before command `id`, newest first; undefined if there is no command `id`. */
  commandsBefore(id: string, limit: number): CommandRecord[] | undefined;
  /** The id the next command of `epoch` is recorded under: one more than the epoch's last. */
  nextCommandId(epoch: number): string;
  audit(actor: string, action: string, detail: Record<string, unknown>): void;
  /**
   * The epoch a database written before epochs were per node moved the whole fleet to; nodes
   * without an epoch of their own are at it. Never moved any more: nodes move one by one.
   */
  keyEpoch(): number | undefined;
  /**
   * Moves node `nodeId` from its key epoch (else `currentEpoch`) to the next one, audited as
   * node.key-epoch: an authority command-key hand-over moves every node (core/registry/authority-command-keys.ts).
   * Returns the epochs left and entered.
   */
  advanceKeyEpoch(nodeId: number, currentEpoch: number, actor: string, why: string): { from: number; to: number };
  /**
   * Takes a node's authenticated key-retired report: when it names the node's epoch (its own,
   * else `currentEpoch`), records it (audited, counted on the node) and moves that node to the
   * next epoch (mod 64) in the same transaction; a report for another epoch changes nothing.
   */
  keyRetired(report: { nodeId: number; epoch: number; failedTags: number }, currentEpoch: number): KeyRetiredOutcome;
  /**
   * Takes a node's verified identity-change request (core/protocol/identity-change.ts): when the
   * node is active, at `epoch` (its own, else `currentEpoch`) or already at the next one (a
   * rotate-keys moved it meanwhile), and the key was never any node's, its public key becomes
   * `publicKey` and it is at the next epoch, in one transaction (audited: node.identity-key with
   * the old and new key, node.key-epoch). The old key stays bound to `epoch` for `overlapMs`
   * (publicKeyFor) and is never taken again by any node.
   */
  changeIdentity(change: { nodeId: number; epoch: number; publicKey: string }, currentEpoch: number, overlapMs: number): IdentityChangeOutcome;
  /**
   * The public key the node's messages of `epoch` are verified with: the key it left that epoch
   * with while that epoch's overlap lasts, else its current key; undefined for a node that is
   * not active.
   */
  publicKeyFor(nodeId: number, epoch: number): string | undefined;
  /** The node that replaced this identity key (ppn keys rotate-identity), if one did: such a key never joins again. */
  replacedBy(publicKey: string): number | undefined;
  /**
   * Keeps a node's verified report as its latest (one row per node) and touches the node, when it
   * is fresh: newer than the last one kept and not ahead of the clock by more than `maxSkewMs`.
   */
  recordReport(report: { nodeId: number; seq: number; facts: ReportFacts }, maxSkewMs: number): ReportFreshness;
  auditLog(limit: number): { at: string; actor: string; action: string; detail: Record<string, unknown> }[];
  /** The authority's command counter, reserved in blocks in this database. */
  authorityCounter(options: { blockSize: number }): AuthorityCounter;
  /** The authority's ack replay windows, in this database: a restart forgets no ack taken. */
  ackWindows(): AckWindowStore;
  close(): void;
}

export function openRegistry(path: string, clock: () => number = Date.now): Registry {
  const { db } = openDurable(path);
  db.exec(`
    CREATE TABLE IF NOT EXISTS nodes (
      id INTEGER PRIMARY KEY CHECK (id BETWEEN 1 AND 254),
      name TEXT NOT NULL UNIQUE,
      aliases TEXT NOT NULL DEFAULT '[]',
      role TEXT NOT NULL,
      groups_json TEXT NOT NULL DEFAULT '[]',
      takes_commands INTEGER NOT NULL,
      public_key TEXT NOT NULL UNIQUE,
      endpoint TEXT,
      status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'revoked')),
      last_seen TEXT,
      updated_at TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS groups (
      id INTEGER PRIMARY KEY CHECK (id BETWEEN 0 AND 255),
      name TEXT NOT NULL UNIQUE,
      aliases TEXT NOT NULL DEFAULT '[]'
    );
    CREATE TABLE IF NOT EXISTS commands (
      id TEXT PRIMARY KEY,
      at TEXT NOT NULL, actor TEXT NOT NULL, text TEXT NOT NULL,
      intent TEXT NOT NULL, opcode INTEGER NOT NULL, arg INTEGER NOT NULL,
      target TEXT NOT NULL, selector INTEGER NOT NULL,
      epoch INTEGER NOT NULL, counter TEXT NOT NULL, deadline INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS command_targets (
      command_id TEXT NOT NULL REFERENCES commands(id),
      node_id INTEGER NOT NULL, name TEXT NOT NULL, address TEXT NOT NULL, packet TEXT NOT NULL,
      status TEXT NOT NULL, detail TEXT, updated_at TEXT NOT NULL,
      PRIMARY KEY (command_id, node_id)
    );
    CREATE TABLE IF NOT EXISTS key_retirements (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      at TEXT NOT NULL, node_id INTEGER NOT NULL, epoch INTEGER NOT NULL, failed_tags INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS key_epoch (
      one INTEGER PRIMARY KEY CHECK (one = 1),
      epoch INTEGER NOT NULL CHECK (epoch BETWEEN 0 AND 63)
    );
    -- The latest telemetry report per node (bounded: one row a node); seq refuses replays.
    CREATE TABLE IF NOT EXISTS node_reports (
      node_id INTEGER PRIMARY KEY CHECK (node_id BETWEEN 1 AND 254),
      seq INTEGER NOT NULL, received_at TEXT NOT NULL, facts TEXT NOT NULL
    );
    -- Each node's command-key epoch (docs/protocol.md, key lifecycle); none: the authority's.
    CREATE TABLE IF NOT EXISTS node_key_epochs (
      node_id INTEGER PRIMARY KEY,
      epoch INTEGER NOT NULL CHECK (epoch BETWEEN 0 AND 63),
      updated_at TEXT NOT NULL
    );
    -- Identity keys nodes have replaced: never taken again; each bound to the epoch it was left
    -- in, whose messages are verified with it until 'until' (epoch ms).
    CREATE TABLE IF NOT EXISTS node_replaced_keys (
      public_key TEXT PRIMARY KEY,
      node_id INTEGER NOT NULL,
      epoch INTEGER NOT NULL CHECK (epoch BETWEEN 0 AND 63),
      replaced_at TEXT NOT NULL,
      until INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS audit (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, detail TEXT NOT NULL
    );
    -- An ack names its command by epoch and counter.
    CREATE INDEX IF NOT EXISTS commands_by_counter ON commands (epoch, counter);
    -- One command may reach nodes in different epochs: its ack is found by counter and node.
    CREATE INDEX IF NOT EXISTS commands_by_counter_alone ON commands (counter);
    -- The number in an id 'c<epoch>-<n>', indexed so the next id is one lookup. Ids recorded
    -- before ids had their own sequence carry the counter there, so the sequence goes on above them.
    CREATE INDEX IF NOT EXISTS commands_by_seq ON commands (epoch, CAST(substr(id, instr(id, '-') + 1) AS INTEGER));
  `);
  const now = () => new Date(clock()).toISOString();
  type NodeRow = { id: number; name: string; aliases: string; role: string; groups_json: string; takes_commands: number; public_key: string; endpoint: string | null; status: NodeStatus; last_seen: string | null };
  const retirementsOf = db.prepare<[{ id: number }], { count: number; at: string | null; epoch: number | null }>(
    'SELECT count(*) AS count, max(at) AS at, (SELECT epoch FROM key_retirements WHERE node_id = @id ORDER BY seq DESC LIMIT 1) AS epoch FROM key_retirements WHERE node_id = @id',
  );
  const retirements = (id: number): Pick<RegistryNode, 'keyRetirements'> => {
    const r = retirementsOf.get({ id })!;
    return r.count ? { keyRetirements: { count: r.count, lastAt: r.at!, lastEpoch: r.epoch! } } : {};
  };
  const reportOf = db.prepare<[number], { seq: number; received_at: string; facts: string }>('SELECT seq, received_at, facts FROM node_reports WHERE node_id = ?');
  const latestReport = (id: number): Pick<RegistryNode, 'report'> => {
    const r = reportOf.get(id);
    return r ? { report: { receivedAt: r.received_at, seq: r.seq, facts: JSON.parse(r.facts) } } : {};
  };
  const reportUpsert = db.prepare(`INSERT INTO node_reports (node_id, seq, received_at, facts) VALUES (?, ?, ?, ?)
    ON CONFLICT (node_id) DO UPDATE SET seq = excluded.seq, received_at = excluded.received_at, facts = excluded.facts`);
  const fleetEpoch = db.prepare<[], { epoch: number }>('SELECT epoch FROM key_epoch WHERE one = 1');
  const nodeEpoch = db.prepare<[number], { epoch: number }>('SELECT epoch FROM node_key_epochs WHERE node_id = ?');
  const keyEpochOf = (id: number): number | undefined => nodeEpoch.get(id)?.epoch ?? fleetEpoch.get()?.epoch;
  const keyEpochField = (id: number): Pick<RegistryNode, 'keyEpoch'> => {
    const epoch = keyEpochOf(id);
    return epoch === undefined ? {} : { keyEpoch: epoch };
  };
  const toNode = (r: NodeRow): RegistryNode => ({
    id: r.id,
    name: r.name,
    aliases: JSON.parse(r.aliases),
    address: nodeAddress(r.id),
    role: r.role,
    groups: JSON.parse(r.groups_json),
    takesCommands: r.takes_commands === 1,
    publicKey: r.public_key,
    ...(r.endpoint && { endpoint: r.endpoint }),
    status: r.status,
    ...(r.last_seen && { lastSeen: r.last_seen }),
    ...retirements(r.id),
    ...keyEpochField(r.id),
    ...latestReport(r.id),
  });
  const listeners = new Set<(event: RegistryEvent) => void>();
  /** Events of a batch wait for its commit (and go with a rollback). */
  let held: RegistryEvent[] | undefined;
  const changed = (event: RegistryEvent) => {
    if (held) held.push(event);
    else for (const l of listeners) l(event);
  };
  const auditInsert = db.prepare('INSERT INTO audit (at, actor, action, detail) VALUES (?, ?, ?, ?)');
  const audit = (actor: string, action: string, detail: Record<string, unknown>) => {
    auditInsert.run(now(), actor, action, JSON.stringify(detail));
  };
  const nodeUpsert = db.prepare(`INSERT INTO nodes (id, name, aliases, role, groups_json, takes_commands, public_key, endpoint, status, updated_at)
    VALUES (@id, @name, @aliases, @role, @groups, @takes, @publicKey, @endpoint, @status, @at)
    ON CONFLICT (id) DO UPDATE SET name = excluded.name, aliases = excluded.aliases, role = excluded.role,
      groups_json = excluded.groups_json, takes_commands = excluded.takes_commands, public_key = excluded.public_key,
      endpoint = excluded.endpoint, status = excluded.status, updated_at = excluded.updated_at`);
  const groupUpsert = db.prepare(`INSERT INTO groups (id, name, aliases) VALUES (?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET name = excluded.name, aliases = excluded.aliases`);
  const commandInsert = db.prepare(`INSERT INTO commands (id, at, actor, text, intent, opcode, arg, target, selector, epoch, counter, deadline)
    VALUES (@id, @at, @actor, @text, @intent, @opcode, @arg, @target, @selector, @epoch, @counter, @deadline)`);
  const targetInsert = db.prepare(`INSERT INTO command_targets (command_id, node_id, name, address, packet, status, detail, updated_at)
    VALUES (?, ?, ?, ?, ?, 'sent', NULL, ?)`);
  const targetUpdate = db.prepare(`UPDATE command_targets SET status = ?, detail = ?, updated_at = ? WHERE command_id = ? AND node_id = ?`);
  type CommandRow = Omit<CommandRecord, 'targets'>;
  type TargetRow = { node_id: number; name: string; address: string; status: TargetStatus; detail: string | null; packet: string };
  const commandSelect = db.prepare<[string], CommandRow>('SELECT * FROM commands WHERE id = ?');
  const newest = db.prepare<[number], CommandRow>('SELECT * FROM commands ORDER BY at DESC, rowid DESC LIMIT ?');
  const olderThan = db.prepare<[string, number], CommandRow>(
    'SELECT * FROM commands WHERE (at, rowid) < (SELECT at, rowid FROM commands WHERE id = ?) ORDER BY at DESC, rowid DESC LIMIT ?',
  );
  // The target's packet names its epoch in byte 0 (0x40 | e); commands recorded before epochs
  // were per node carry it in the command's own epoch.
  const targetByCounter = db.prepare<[string, number, string, number], { id: string; status: TargetStatus; opcode: number }>(
    `SELECT c.id, t.status, c.opcode FROM commands c JOIN command_targets t ON t.command_id = c.id
     WHERE c.counter = ? AND t.node_id = ? AND (t.packet LIKE ? OR c.epoch = ?) ORDER BY c.rowid DESC LIMIT 1`,
  );
  const epochUpsert = db.prepare<[number, number, string]>(
    'INSERT INTO node_key_epochs (node_id, epoch, updated_at) VALUES (?, ?, ?) ON CONFLICT (node_id) DO UPDATE SET epoch = excluded.epoch, updated_at = excluded.updated_at',
  );
  /** Moves a node's key epoch, audited as node.key-epoch. Inside the caller's transaction. */
  const moveKeyEpoch = (nodeId: number, from: number, to: number, actor: string, why: string) => {
    epochUpsert.run(nodeId, to, now());
    audit(actor, 'node.key-epoch', { id: nodeId, from, to, why });
  };
  const replacedKeyOf = db.prepare<[number, number, number], { public_key: string }>(
    'SELECT public_key FROM node_replaced_keys WHERE node_id = ? AND epoch = ? AND until > ? ORDER BY until DESC LIMIT 1',
  );
  // Prepared once: each ack reads the node and its key, and touches it.
  const nodeRow = db.prepare<[number], NodeRow>('SELECT * FROM nodes WHERE id = ?');
  const nodeKeyRow = db.prepare<[number], { public_key: string; status: NodeStatus }>('SELECT public_key, status FROM nodes WHERE id = ?');
  const touchNode = db.prepare('UPDATE nodes SET last_seen = ? WHERE id = ?');
  const replacedKeyOwner = db.prepare<[string], { node_id: number }>('SELECT node_id FROM node_replaced_keys WHERE public_key = ?');
  const keyTaken = db.prepare<[string, string], { one: number }>(
    'SELECT 1 AS one FROM nodes WHERE public_key = ? UNION ALL SELECT 1 FROM node_replaced_keys WHERE public_key = ? LIMIT 1',
  );
  const lastSeq = db.prepare<[number], { seq: number | null }>(
    "SELECT max(CAST(substr(id, instr(id, '-') + 1) AS INTEGER)) AS seq FROM commands WHERE epoch = ?",
  );
  const targetsSelect = db.prepare<[string], TargetRow>('SELECT * FROM command_targets WHERE command_id = ? ORDER BY node_id');
  const toCommand = (row: CommandRow): CommandRecord => {
    const overdue = clock() > row.deadline;
    return {
      ...row,
      targets: targetsSelect.all(row.id).map((t) => ({
        nodeId: t.node_id,
        name: t.name,
        address: t.address,
        status: t.status === 'sent' && overdue ? 'no-answer' : t.status,
        detail: t.detail,
        packet: t.packet,
      })),
    };
  };

  const upsert = writeTransaction(db, (node: RegistryNode, actor: string) => {
    nodeUpsert.run({
      id: node.id,
      name: node.name,
      aliases: JSON.stringify(node.aliases),
      role: node.role,
      groups: JSON.stringify(node.groups),
      takes: node.takesCommands ? 1 : 0,
      publicKey: node.publicKey,
      endpoint: node.endpoint ?? null,
      status: node.status,
      at: now(),
    });
    audit(actor, 'node.upsert', { id: node.id, name: node.name, role: node.role, status: node.status, publicKey: node.publicKey });
  });

  const insertCommand = writeTransaction(db, (command: Parameters<Registry['recordCommand']>[0]) => {
    const { targets, ...row } = command;
    commandInsert.run(row);
    for (const t of targets) targetInsert.run(row.id, t.nodeId, t.name, t.address, t.packet, row.at);
    audit(command.actor, 'command', {
      id: row.id,
      text: row.text,
      intent: row.intent,
      arg: row.arg,
      target: row.target,
      counter: row.counter,
      targets: targets.map((t) => t.name),
    });
  });

  /** Sets one column of a node, audited as node.<column> with the old and new value. */
  const updateNode = (id: number, column: 'status' | 'name', value: string, actor: string): boolean => {
    const done = writeTransaction(db, () => {
      const row = db.prepare<[number], Record<string, string>>(`SELECT ${column} FROM nodes WHERE id = ?`).get(id);
      if (!row) return false;
      db.prepare(`UPDATE nodes SET ${column} = ?, updated_at = ? WHERE id = ?`).run(value, now(), id);
      audit(actor, `node.${column}`, { id, from: row[column], to: value });
      return true;
    })();
    if (done) changed({ type: 'node', nodeId: id });
    return done;
  };

  /**
   * What the authority keeps per node id, gone with the node, so that a node given the id later
   * starts clean: its key epoch, latest report, key retirements, ack replay windows, the epochs it
   * left at a command-key hand-over. Keys it replaced stay refused for good, but verify nothing.
   */
  const forgetNodeState = (id: number) => {
    for (const table of ['node_key_epochs', 'node_reports', 'key_retirements']) db.prepare(`DELETE FROM ${table} WHERE node_id = ?`).run(id);
    db.prepare('UPDATE node_replaced_keys SET until = 0 WHERE node_id = ?').run(id);
    // Tables made on first use by the stores that keep them (ack-windows.ts, authority-handovers.ts).
    for (const table of ['protocol_ack_windows', 'authority_epoch_switches']) {
      if (db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table)) db.prepare(`DELETE FROM ${table} WHERE node_id = ?`).run(id);
    }
  };

  const registry: Registry = {
    db,
    fleet() {
      const nodes = registry.nodes().filter((n) => n.status === 'active');
      const groups = db.prepare<[], { id: number; name: string; aliases: string }>('SELECT * FROM groups ORDER BY id').all();
      return {
        nodes: nodes.map(({ publicKey: _k, endpoint: _e, status: _s, lastSeen: _l, keyRetirements: _r, report: _p, keyEpoch: _epoch, ...n }) => n),
        groups: groups.map((g) => ({ id: g.id, name: g.name, aliases: JSON.parse(g.aliases) })),
      };
    },
    node(id) {
      const row = nodeRow.get(id);
      return row && toNode(row);
    },
    nodes() {
      return db.prepare<[], NodeRow>('SELECT * FROM nodes ORDER BY id').all().map(toNode);
    },
    upsertNode(node, actor) {
      upsert(node, actor);
      changed({ type: 'node', nodeId: node.id });
    },
    setStatus: (id, status, actor) => updateNode(id, 'status', status, actor),
    rename: (id, name, actor) => updateNode(id, 'name', name, actor),
    removeNode(id, actor) {
      const done = writeTransaction(db, () => {
        const row = db.prepare<[number], { name: string; status: string }>('SELECT name, status FROM nodes WHERE id = ?').get(id);
        if (!row) return false;
        db.prepare('DELETE FROM nodes WHERE id = ?').run(id);
        forgetNodeState(id);
        audit(actor, 'node.remove', { id, name: row.name, status: row.status });
        return true;
      })();
      if (done) changed({ type: 'node', nodeId: id });
      return done;
    },
    touch(id) {
      touchNode.run(now(), id);
    },
    batch(fn) {
      if (held) return fn();
      held = [];
      let committed = false;
      try {
        const result = writeTransaction(db, fn)();
        committed = true;
        return result;
      } finally {
        const events = held;
        held = undefined;
        // A transaction that threw was rolled back: nothing it announced happened.
        if (committed) for (const e of events) changed(e);
      }
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    upsertGroup: writeTransaction(db, (group: FleetGroup, actor: string) => {
      groupUpsert.run(group.id, group.name, JSON.stringify(group.aliases));
      audit(actor, 'group.upsert', { ...group });
    }),
    recordCommand(command) {
      insertCommand(command);
      changed({ type: 'command', id: command.id });
    },
    markTarget(epoch, counter, nodeId, status, detail) {
      const prefix = `${(0x40 | epoch).toString(16)}%`;
      const outcome = writeTransaction(db, () => {
        const target = targetByCounter.get(counter, nodeId, prefix, epoch);
        if (target === undefined) return undefined;
        if (targetUpdate.run(status, detail ?? null, now(), target.id, nodeId).changes === 0) return undefined;
        audit(`node:${nodeId}`, 'command.outcome', { id: target.id, nodeId, status, detail: detail ?? null });
        // The node moved when it executed rotate-keys signed under `epoch`; its first answer counts.
        const to = nextEpoch(epoch);
        const from = keyEpochOf(nodeId) ?? epoch;
        const rotated = status === 'executed' && target.opcode === ROTATE_KEYS_OPCODE && target.status === 'sent' && from !== to;
        if (rotated) moveKeyEpoch(nodeId, from, to, `node:${nodeId}`, `rotate-keys ${target.id} executed`);
        return { id: target.id, rotated };
      })();
      if (!outcome) return false;
      changed({ type: 'command', id: outcome.id, target: { nodeId, status } });
      if (outcome.rotated) changed({ type: 'node', nodeId });
      return true;
    },
    command(id) {
      const row = commandSelect.get(id);
      return row && toCommand(row);
    },
    nextCommandId(epoch) {
      return commandId(epoch, (lastSeq.get(epoch)?.seq ?? 0) + 1);
    },
    commands(limit) {
      return newest.all(limit).map(toCommand);
    },
    commandsBefore(id, limit) {
      return commandSelect.get(id) && olderThan.all(id, limit).map(toCommand);
    },
    audit,
    auditLog(limit) {
      return db
        .prepare<[number], { at: string; actor: string; action: string; detail: string }>('SELECT at, actor, action, detail FROM audit ORDER BY seq DESC LIMIT ?')
        .all(limit)
        .map((r) => ({ ...r, detail: JSON.parse(r.detail) }));
    },
    keyEpoch: () => fleetEpoch.get()?.epoch,
    advanceKeyEpoch(nodeId, currentEpoch, actor, why) {
      const move = writeTransaction(db, () => {
        const from = keyEpochOf(nodeId) ?? currentEpoch;
        const to = nextEpoch(from);
        moveKeyEpoch(nodeId, from, to, actor, why);
        return { from, to };
      })();
      changed({ type: 'node', nodeId });
      return move;
    },
    keyRetired(report, currentEpoch) {
      const outcome = writeTransaction(db, (): KeyRetiredOutcome => {
        // A report for an epoch the node has left is the node repeating itself until the update
        // reaches it (or a replay): nothing to record, nothing to do.
        const at = keyEpochOf(report.nodeId) ?? currentEpoch;
        if (report.epoch !== at) return { moved: false, reason: 'not-current-epoch' };
        db.prepare('INSERT INTO key_retirements (at, node_id, epoch, failed_tags) VALUES (?, ?, ?, ?)').run(now(), report.nodeId, report.epoch, report.failedTags);
        audit(`node:${report.nodeId}`, 'node.key-retired', { ...report });
        // Its key is refused already, so the node moves at once: nothing signed under it could land.
        const epoch = nextEpoch(at);
        moveKeyEpoch(report.nodeId, at, epoch, 'authority', `node ${report.nodeId} retired its key`);
        return { moved: true, epoch };
      })();
      if (outcome.moved) changed({ type: 'node', nodeId: report.nodeId });
      return outcome;
    },
    changeIdentity(change, currentEpoch, overlapMs) {
      const outcome = writeTransaction(db, (): IdentityChangeOutcome => {
        const row = db.prepare<[number], { public_key: string; status: NodeStatus }>('SELECT public_key, status FROM nodes WHERE id = ?').get(change.nodeId);
        if (!row) return { changed: false, reason: 'unknown-node' };
        if (row.status !== 'active') return { changed: false, reason: 'not-active' };
        if (row.public_key === change.publicKey) return { changed: false, reason: 'already' };
        // The node moves to the epoch after the one it asks from. It may be there already: a
        // rotate-keys it executed while its request was on the way moved it (node first) and its
        // ack got here first. The epoch it moved to is then bound to the new key without a move.
        const at = keyEpochOf(change.nodeId) ?? currentEpoch;
        const epoch = nextEpoch(change.epoch);
        if (change.epoch !== at && epoch !== at) return { changed: false, reason: 'not-current-epoch' };
        if (keyTaken.get(change.publicKey, change.publicKey)) return { changed: false, reason: 'key-in-use' };
        db.prepare('UPDATE nodes SET public_key = ?, updated_at = ? WHERE id = ?').run(change.publicKey, now(), change.nodeId);
        db.prepare('INSERT INTO node_replaced_keys (public_key, node_id, epoch, replaced_at, until) VALUES (?, ?, ?, ?, ?)').run(
          row.public_key, change.nodeId, change.epoch, now(), clock() + overlapMs,
        );
        const actor = `node:${change.nodeId}`;
        audit(actor, 'node.identity-key', { id: change.nodeId, from: row.public_key, to: change.publicKey, epoch: change.epoch, why: 'identity-change request from the node, proved with its old and its new key' });
        if (at !== epoch) moveKeyEpoch(change.nodeId, at, epoch, actor, 'identity key changed');
        return { changed: true, from: row.public_key, to: change.publicKey, epoch };
      })();
      if (outcome.changed) changed({ type: 'node', nodeId: change.nodeId });
      return outcome;
    },
    replacedBy(publicKey) {
      return replacedKeyOwner.get(publicKey)?.node_id;
    },
    publicKeyFor(nodeId, epoch) {
      const row = nodeKeyRow.get(nodeId);
      if (!row || row.status !== 'active') return undefined;
      if (epoch === keyEpochOf(nodeId)) return row.public_key;
      return replacedKeyOf.get(nodeId, epoch, clock())?.public_key ?? row.public_key;
    },
    recordReport(report, maxSkewMs) {
      const freshness = writeTransaction(db, (): ReportFreshness => {
        const fresh = reportFreshness(report.seq, reportOf.get(report.nodeId)?.seq, clock(), maxSkewMs);
        if (fresh !== 'fresh') return fresh;
        const at = now();
        reportUpsert.run(report.nodeId, report.seq, at, JSON.stringify(report.facts));
        db.prepare('UPDATE nodes SET last_seen = ? WHERE id = ?').run(at, report.nodeId);
        return fresh;
      })();
      // Its own event: a heartbeat changes no membership (the sync pusher listens to 'node').
      if (freshness === 'fresh') changed({ type: 'report', nodeId: report.nodeId });
      return freshness;
    },
    authorityCounter: (options) => openAuthorityCounter(db, options),
    ackWindows: () => openAckWindows(db),
    close: () => db.close(),
  };
  return registry;
}
