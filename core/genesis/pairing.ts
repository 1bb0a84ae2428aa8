// The genesis side of the pairing registry, in the admin's database beside the nodes table:
// when each node asked to join and the code both screens show while it waits, one-time
// enrolment tokens (stored as SHA-256 only), keys an admin pre-approved by claiming the node,
// keys whose join request an operator rejected,
// and small facts the running admin shares with the CLI (its join endpoint, the sync sequence).
// The operations people run (approve, revoke, rename) live here so that the CLI and the F8 API
// behave alike; every change goes through the registry, which writes the audit log.
import { createHash, randomBytes } from 'node:crypto';
import type { NodeStatus, Registry, RegistryNode } from '../registry/registry.js';
import { HUB_ID } from '../fleet/addresses.js';
import { nameProblem } from '../fleet/names.js';
import { HUB_ROLE } from '../fleet/roles.js';
import { newCode } from './code.js';
import { writeTransaction } from '../storage/durable-db.js';

/** Facts the running admin records for the CLI. */
export const JOIN_ENDPOINT_META = 'join_endpoint';
export const AUTHORITY_ID_META = 'authority_id';

export interface PairedNode extends RegistryNode {
  /** When the node first asked to join (absent for nodes registered by hand). */
  requestedAt?: string;
  /** The join code, while the node waits for approval. */
  code?: string;
}

/** A refusal people caused (unknown node, wrong state, bad name): the CLI exits 2, F8 answers 4xx. */
export class PairingError extends Error {
  override name = 'PairingError';
  constructor(message: string, readonly status: 404 | 409 | 400 = 409) {
    super(message);
  }
}

export interface Pairing {
  readonly registry: Registry;
  list(): PairedNode[];
  /** The node a join code or an id names. */
  find(idOrCode: number | string): PairedNode | undefined;
  byPublicKey(publicKey: string): RegistryNode | undefined;
  approve(id: number, actor: string): PairedNode;
  /**
   * An admitted node: revoked, its id kept until every id was used (reclaimRevokedId). A pending request (never admitted): rejected —
   * forgotten, so its id is free again, and its key refused from now on.
   */
  revoke(id: number, actor: string): PairedNode;
  rename(id: number, name: string, actor: string): PairedNode;
  /** Records a join request's row; returns its join code. `source` is the address it came from. */
  recordRequest(nodeId: number, source?: string): string;
  /** A pending node asked again: its request is fresh again (and now from `source`). */
  touchRequest(nodeId: number, source?: string): void;
  /** Forgets pending requests nobody asked about for `ttlMs`; returns their ids (free again). */
  expirePending(ttlMs: number): number[];
  pendingCount(): number;
  pendingCountFrom(source: string): number;
  /**
   * Why this key is refused for good, when it is: an operator rejected its join request, or it
   * belonged to a revoked node whose id was given again.
   */
  rejection(publicKey: string): string | undefined;
  /**
   * Frees the id of the node revoked longest ago (any but the hub's, unless `role` is the hub's),
   * for a new node when no id was ever left unused: its key stays refused (rejected), the rest of
   * what was kept for it is forgotten. The id, or undefined when no node is revoked.
   */
  reclaimRevokedId(role: string): number | undefined;
  /** A new one-time enrolment token; only its hash is kept. */
  createToken(actor: string, ttlMs: number | null): string;
  /** Uses the token up if it is valid; false if unknown, used or expired. */
  useToken(token: string, nodeId: number): boolean;
  tokenValid(token: string): boolean;
  preapprove(publicKey: string, actor: string): void;
  withdrawPreapproval(publicKey: string): void;
  /** Uses the pre-approval of this key up, if there is one. */
  usePreapproval(publicKey: string): boolean;
  hasPreapproval(publicKey: string): boolean;
  getMeta(key: string): string | undefined;
  setMeta(key: string, value: string): void;
}

const hash = (token: string) => createHash('sha256').update(token).digest('hex');

export function openPairing(registry: Registry, clock: () => number = Date.now): Pairing {
  const { db } = registry;
  db.exec(`
    CREATE TABLE IF NOT EXISTS genesis_joins (
      node_id INTEGER PRIMARY KEY REFERENCES nodes(id),
      code TEXT NOT NULL,
      requested_at TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS genesis_tokens (
      hash TEXT PRIMARY KEY,
      created_at TEXT NOT NULL, created_by TEXT NOT NULL, expires_at INTEGER,
      used_at TEXT, used_by INTEGER
    );
    CREATE TABLE IF NOT EXISTS genesis_preapproved (
      public_key TEXT PRIMARY KEY, created_at TEXT NOT NULL, created_by TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS genesis_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS genesis_rejected (
      public_key TEXT PRIMARY KEY, rejected_at TEXT NOT NULL, rejected_by TEXT NOT NULL
    );
  `);
  // Databases made before requests expired lack the last-asked time and the source: add them,
  // counting old pending requests as asked now.
  const joinColumns = new Set(db.prepare<[], { name: string }>('PRAGMA table_info(genesis_joins)').all().map((c) => c.name));
  if (!joinColumns.has('asked_at')) db.exec('ALTER TABLE genesis_joins ADD COLUMN asked_at INTEGER');
  if (!joinColumns.has('source')) db.exec('ALTER TABLE genesis_joins ADD COLUMN source TEXT');
  db.prepare('UPDATE genesis_joins SET asked_at = ? WHERE asked_at IS NULL').run(clock());
  const now = () => new Date(clock()).toISOString();
  type JoinRow = { node_id: number; code: string; requested_at: string; asked_at: number; source: string | null };
  const joinOf = db.prepare<[number], JoinRow>('SELECT * FROM genesis_joins WHERE node_id = ?');
  const paired = (node: RegistryNode): PairedNode => {
    const join = joinOf.get(node.id);
    return { ...node, ...(join && { requestedAt: join.requested_at }), ...(join && node.status === 'pending' && { code: join.code }) };
  };
  const must = (id: number) => {
    const node = registry.node(id);
    if (!node) throw new PairingError(`no node with id ${id}`, 404);
    return node;
  };
  const setStatus = (id: number, from: NodeStatus[], to: NodeStatus, actor: string) => {
    const node = must(id);
    if (!from.includes(node.status)) throw new PairingError(`node ${id} (${node.name}) is ${node.status}; only a ${from.join(' or ')} node can be made ${to}`);
    registry.setStatus(id, to, actor);
    return paired(must(id));
  };
  /** A never-admitted node leaves no trace but the audit log: its id is free for the next request. */
  const forget = (id: number, actor: string) => {
    db.prepare('DELETE FROM genesis_joins WHERE node_id = ?').run(id);
    registry.removeNode(id, actor);
  };
  const tokenRow = db.prepare<[string], { expires_at: number | null; used_at: string | null }>('SELECT expires_at, used_at FROM genesis_tokens WHERE hash = ?');

  const pairing: Pairing = {
    registry,
    list: () => registry.nodes().map(paired),
    find(idOrCode) {
      if (typeof idOrCode === 'number') {
        const node = registry.node(idOrCode);
        return node && paired(node);
      }
      const row = db.prepare<[string], { node_id: number }>("SELECT j.node_id FROM genesis_joins j JOIN nodes n ON n.id = j.node_id WHERE j.code = ? AND n.status = 'pending'").get(idOrCode);
      return row && paired(must(row.node_id));
    },
    byPublicKey(publicKey) {
      const row = db.prepare<[string], { id: number }>('SELECT id FROM nodes WHERE public_key = ?').get(publicKey);
      return row && registry.node(row.id);
    },
    approve: (id, actor) => setStatus(id, ['pending'], 'active', actor),
    revoke(id, actor) {
      const self = pairing.getMeta(AUTHORITY_ID_META);
      if (self !== undefined && Number(self) === id) throw new PairingError(`node ${id} is the authority itself; it cannot be revoked`);
      const node = must(id);
      if (node.status !== 'pending') return setStatus(id, ['pending', 'active'], 'revoked', actor);
      return writeTransaction(db, () => {
        db.prepare('INSERT OR REPLACE INTO genesis_rejected (public_key, rejected_at, rejected_by) VALUES (?, ?, ?)').run(node.publicKey, now(), actor);
        forget(id, actor);
        return { ...node, status: 'revoked' as const };
      })();
    },
    rename(id, name, actor) {
      const problem = nameProblem(name);
      if (problem) throw new PairingError(problem, 400);
      const node = must(id);
      const holder = registry.nodes().find((n) => n.name === name);
      if (holder && holder.id !== id) throw new PairingError(`the name '${name}' is taken by node ${holder.id}`);
      if (node.name !== name) registry.rename(id, name, actor);
      return paired(must(id));
    },
    recordRequest(nodeId, source) {
      const code = newCode();
      db.prepare('INSERT INTO genesis_joins (node_id, code, requested_at, asked_at, source) VALUES (?, ?, ?, ?, ?)').run(nodeId, code, now(), clock(), source ?? null);
      return code;
    },
    touchRequest(nodeId, source) {
      db.prepare('UPDATE genesis_joins SET asked_at = ?, source = coalesce(?, source) WHERE node_id = ?').run(clock(), source ?? null, nodeId);
    },
    expirePending(ttlMs) {
      const stale = db
        .prepare<[number], { node_id: number }>("SELECT j.node_id FROM genesis_joins j JOIN nodes n ON n.id = j.node_id WHERE n.status = 'pending' AND j.asked_at < ?")
        .all(clock() - ttlMs)
        .map((r) => r.node_id);
      for (const id of stale) forget(id, 'genesis:expired');
      return stale;
    },
    pendingCount: () => db.prepare<[], { n: number }>("SELECT count(*) AS n FROM nodes WHERE status = 'pending'").get()!.n,
    pendingCountFrom: (source) =>
      db.prepare<[string], { n: number }>("SELECT count(*) AS n FROM genesis_joins j JOIN nodes n ON n.id = j.node_id WHERE n.status = 'pending' AND j.source = ?").get(source)!.n,
    reclaimRevokedId(role) {
      return writeTransaction(db, () => {
        // Revoked longest ago: by the audit log's order (timestamps of one millisecond tie).
        const row = db.prepare<[number], { id: number; name: string; public_key: string }>(
          `SELECT n.id, n.name, n.public_key FROM nodes n
             JOIN (SELECT json_extract(detail, '$.id') AS id, MAX(seq) AS seq FROM audit
                   WHERE action IN ('node.status', 'node.upsert') AND coalesce(json_extract(detail, '$.to'), json_extract(detail, '$.status')) = 'revoked'
                   GROUP BY 1) r ON r.id = n.id
           WHERE n.status = 'revoked' AND n.id != ? ORDER BY r.seq LIMIT 1`,
        ).get(role === HUB_ROLE ? 0 : HUB_ID);
        if (!row) return undefined;
        db.prepare('INSERT OR REPLACE INTO genesis_rejected (public_key, rejected_at, rejected_by) VALUES (?, ?, ?)').run(row.public_key, now(), `revoked node ${row.id} (${row.name}), whose id was given again`);
        registry.audit('genesis', 'node.id-reclaimed', { id: row.id, name: row.name, publicKey: row.public_key });
        forget(row.id, 'genesis');
        return row.id;
      })();
    },
    rejection(publicKey) {
      const row = db.prepare<[string], { rejected_by: string }>('SELECT rejected_by FROM genesis_rejected WHERE public_key = ?').get(publicKey);
      if (!row) return undefined;
      return row.rejected_by.startsWith('revoked node') ? `this key belonged to ${row.rejected_by}` : `this key's join request was rejected by ${row.rejected_by}`;
    },
    createToken(actor, ttlMs) {
      const token = randomBytes(32).toString('base64url');
      db.prepare('INSERT INTO genesis_tokens (hash, created_at, created_by, expires_at) VALUES (?, ?, ?, ?)').run(hash(token), now(), actor, ttlMs === null ? null : clock() + ttlMs);
      registry.audit(actor, 'genesis.token', { expiresAt: ttlMs === null ? null : new Date(clock() + ttlMs).toISOString() });
      return token;
    },
    tokenValid(token) {
      const row = tokenRow.get(hash(token));
      return !!row && row.used_at === null && (row.expires_at === null || row.expires_at > clock());
    },
    useToken(token, nodeId) {
      if (!pairing.tokenValid(token)) return false;
      db.prepare('UPDATE genesis_tokens SET used_at = ?, used_by = ? WHERE hash = ?').run(now(), nodeId, hash(token));
      return true;
    },
    preapprove(publicKey, actor) {
      db.prepare('INSERT OR REPLACE INTO genesis_preapproved (public_key, created_at, created_by) VALUES (?, ?, ?)').run(publicKey, now(), actor);
      registry.audit(actor, 'genesis.claim', { publicKey });
    },
    withdrawPreapproval(publicKey) {
      db.prepare('DELETE FROM genesis_preapproved WHERE public_key = ?').run(publicKey);
    },
    hasPreapproval: (publicKey) => !!db.prepare('SELECT 1 FROM genesis_preapproved WHERE public_key = ?').get(publicKey),
    usePreapproval: (publicKey) => db.prepare('DELETE FROM genesis_preapproved WHERE public_key = ?').run(publicKey).changes > 0,
    getMeta: (key) => db.prepare<[string], { value: string }>('SELECT value FROM genesis_meta WHERE key = ?').get(key)?.value,
    setMeta(key, value) {
      db.prepare('INSERT INTO genesis_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
    },
  };
  return pairing;
}
