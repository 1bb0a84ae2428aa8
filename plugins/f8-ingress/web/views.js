// DOM for the page's records: commands with their targets, nodes. Text goes in as text nodes
// only (never HTML), and rows are updated in place so that focus and open details survive the
// live updates.

/**
 * @param {string} tag
 * @param {Record<string, any>} [props] attributes; `class`; `on<event>` listeners
 * @param {...(Node | string | null | undefined | false | (Node | string)[])} children
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) if (child !== null && child !== undefined && child !== false) el.append(child);
  return el;
}

/** @type {Record<string, string>} */
export const TARGET_STATUS = {
  sent: 'sent, waiting',
  executed: 'executed',
  failed: 'failed',
  'rejected-by-policy': 'refused by policy',
  'unknown-intent': 'unknown intent',
  'no-answer': 'no answer by its deadline',
};

/** @type {Record<string, string>} */
const NODE_STATUS = { active: 'active', pending: 'pending approval', revoked: 'revoked' };

/** @param {Record<string, string>} labels @param {string} status */
const badge = (labels, status) => h('span', { class: `status status-${status}` }, labels[status] ?? status);

/** @param {string | undefined} iso @param {number} now */
export function ago(iso, now) {
  if (!iso) return 'never';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

/** "2 executed, 1 no answer" @param {any} command */
export function outcomeSummary(command) {
  /** @type {Map<string, number>} */
  const counts = new Map();
  for (const t of command.targets) counts.set(t.status, (counts.get(t.status) ?? 0) + 1);
  return [...counts].map(([status, n]) => `${n} ${TARGET_STATUS[status] ?? status}`).join(', ');
}

/** One target of a command: status as it comes, counter and packet behind a disclosure. @param {any} t @param {string} counter */
function targetRow(t, counter) {
  return h(
    'li',
    { 'data-node-id': t.nodeId, class: 'target' },
    h('span', { class: 'name' }, t.name),
    h('span', { class: 'address' }, t.address),
    badge(TARGET_STATUS, t.status),
    h('span', { class: 'detail' }, t.detail ?? ''),
    h(
      'details',
      { class: 'packet' },
      h('summary', {}, 'Counter and packet', h('span', { class: 'visually-hidden' }, ` for ${t.name}`)),
      h('dl', { class: 'facts' }, h('dt', {}, 'Counter'), h('dd', {}, counter), h('dt', {}, 'Packet (hex)'), h('dd', {}, h('code', { class: 'hex' }, t.packet))),
    ),
  );
}

/** @param {HTMLElement} list @param {any} command */
function updateTargets(list, command) {
  for (const t of command.targets) {
    const row = list.querySelector(`[data-node-id="${t.nodeId}"]`);
    if (!row) {
      list.append(targetRow(t, command.counter));
      continue;
    }
    row.querySelector('.status')?.replaceWith(badge(TARGET_STATUS, t.status));
    const detail = row.querySelector('.detail');
    if (detail) detail.textContent = t.detail ?? '';
  }
}

/**
 * A draft's targets, each with its selector: one for a node, a group or everyone, several for a set.
 * @param {{ target: string, selector: number, targets?: { name: string, selector: number }[] }} draft
 */
export function draftTargetsText(draft) {
  const members = draft.targets?.length ? draft.targets : [{ name: draft.target, selector: draft.selector }];
  return members.map((t) => `${t.name} (selector 0x${t.selector.toString(16).padStart(4, '0')})`).join(', ');
}

/** @param {any} command */
const commandMeta = (command) =>
  `${command.intent} → ${command.target} · ${command.id}${command.at ? ` · ${new Date(command.at).toLocaleTimeString()}` : ''}`;

/** The command just sent, followed live. @param {any} command */
export function liveCommand(command) {
  const list = h('ul', { class: 'targets' });
  updateTargets(list, command);
  return h(
    'article',
    { class: 'command', 'data-key': command.id },
    h('p', { class: 'text' }, h('q', {}, command.text)),
    h('p', { class: 'meta' }, commandMeta(command)),
    list,
  );
}

/** @param {HTMLElement} el @param {any} command */
export function updateLiveCommand(el, command) {
  const list = el.querySelector('ul.targets');
  if (list instanceof HTMLElement) updateTargets(list, command);
}

/** One line of history, its targets behind a disclosure. @param {any} command */
export function historyEntry(command) {
  const list = h('ul', { class: 'targets' });
  updateTargets(list, command);
  return h(
    'li',
    { 'data-key': command.id },
    h(
      'details',
      {},
      h(
        'summary',
        {},
        h('time', { datetime: command.at }, command.at ? new Date(command.at).toLocaleTimeString() : ''),
        ' ',
        h('q', { class: 'text' }, command.text),
        ' ',
        h('span', { class: 'outcome' }, outcomeSummary(command)),
      ),
      h('p', { class: 'meta' }, commandMeta(command)),
      list,
    ),
  );
}

/** @param {HTMLElement} el @param {any} command */
export function updateHistoryEntry(el, command) {
  const outcome = el.querySelector('.outcome');
  if (outcome) outcome.textContent = outcomeSummary(command);
  const list = el.querySelector('ul.targets');
  if (list instanceof HTMLElement) updateTargets(list, command);
}

/** @type {Record<string, string>} */
export const HEALTH = { up: 'up', stale: 'stale', down: 'down', never: 'not heard yet' };

/**
 * A node's health by the age of its last authenticated message (`lastSeen`), with the F8 stage's
 * thresholds: up within `staleAfterMs`, stale within `downAfterMs`, down beyond; never heard: never.
 * @param {string | undefined} lastSeen @param {number} now @param {{ staleAfterMs: number, downAfterMs: number }} thresholds
 * @returns {'up' | 'stale' | 'down' | 'never'}
 */
export function healthOf(lastSeen, now, { staleAfterMs, downAfterMs }) {
  if (!lastSeen) return 'never';
  const age = now - Date.parse(lastSeen);
  return age < staleAfterMs ? 'up' : age < downAfterMs ? 'stale' : 'down';
}

/** "5 min" @param {number} ms */
export const duration = (ms) => (ms % 60_000 === 0 ? `${ms / 60_000} min` : `${Math.round(ms / 1000)} s`);

/** "2 h 5 min" @param {number} s seconds */
export const uptimeText = (s) =>
  s < 60 ? `${s} s` : s < 3600 ? `${Math.floor(s / 60)} min` : s < 86_400 ? `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min` : `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;

/** A join code as both screens show it: ABCD-EFGH. @param {string} code */
export const formatCode = (code) => `${code.slice(0, 4)}-${code.slice(4)}`;

/**
 * What a fleet row needs besides its node.
 * @typedef {{
 *   now: number,
 *   health: { staleAfterMs: number, downAfterMs: number } | null,
 *   authority: number | null,
 *   confirmingRevoke: number | null,
 *   decide: (node: any, decision: 'approve' | 'revoke') => void,
 *   askRevoke: (node: any | null) => void,
 * }} FleetView
 */

/** @param {any} node @param {FleetView} view */
export function fleetEntry(node, view) {
  const el = h('li', { 'data-key': node.id, class: `node node-${node.status}` });
  fillFleetEntry(el, node, view);
  return el;
}

/**
 * The thresholds a node is judged by: its own (the API's `health`, from its heartbeat interval)
 * or, for a record without them, the F8 stage's.
 * @param {any} node @param {FleetView} view
 */
const thresholdsOf = (node, view) => (node.health ? { staleAfterMs: node.health.staleAfterMs, downAfterMs: node.health.downAfterMs } : view.health);

/**
 * The health badge; its `data-last-seen` and thresholds let the clock move it without rebuilding the row.
 * @param {any} node @param {FleetView} view
 */
export function healthBadge(node, view) {
  const thresholds = thresholdsOf(node, view);
  if (!thresholds) return null;
  const health = healthOf(node.lastSeen, view.now, thresholds);
  return h(
    'span',
    { class: `health health-${health}`, 'data-last-seen': node.lastSeen ?? '', 'data-stale-after': thresholds.staleAfterMs, 'data-down-after': thresholds.downAfterMs },
    HEALTH[health],
  );
}

/** "1.2 GB" @param {number} bytes */
export const bytes = (bytes) => {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (bytes >= 1000 && i < units.length - 1) (bytes /= 1000), i++;
  return `${i === 0 ? bytes : bytes.toFixed(1)} ${units[i]}`;
};

/** "relayed (via the hub), 3.1 ms" @param {{ path?: string, rttMs?: number, state?: string }} p */
export const pathText = (p) => [p.path ?? p.state ?? 'unknown', p.rttMs !== undefined ? `${p.rttMs} ms` : null].filter(Boolean).join(', ');

/** The authority's path to the node (its mesh's view), when its mesh owns paths. @param {any} node */
function nodePath(node) {
  if (!node.path?.path) return null;
  return h('p', { class: 'node-path' }, 'path ', h('span', { class: `path path-${node.path.path}` }, pathText(node.path)));
}

/** The node's latest telemetry report, behind a disclosure. @param {any} node @param {number} now */
function nodeFacts(node, now) {
  const report = node.report;
  if (!report) return null;
  const f = report.facts;
  const notRunning = Object.entries(f.stages).filter(([, state]) => state !== 'running');
  const stages = `${Object.keys(f.stages).length} (${notRunning.length ? notRunning.map(([id, state]) => `${id} ${state}`).join(', ') : 'all running'})`;
  const drops = `${f.drops.total}${Object.keys(f.drops.top).length ? ` (${Object.entries(f.drops.top).map(([reason, n]) => `${reason} ${n}`).join(', ')})` : ''}`;
  const rows = [
    ['Reported', h('time', { datetime: report.receivedAt }, ago(report.receivedAt, now)), ` · every ${f.everySeconds} s`],
    ['Version', f.version],
    ['Uptime', uptimeText(f.uptimeS)],
    ['Load', f.load.join(' / ')],
    ['Memory', bytes(f.rssBytes)],
    ['Disk free', f.diskFreeBytes === undefined ? 'unknown' : bytes(f.diskFreeBytes)],
    ['Stages', stages],
    ['Drops', drops],
    ['Peers', Object.entries(f.peerPaths ?? {}).map(([path, n]) => `${n} ${path}`).join(', ') || 'none'],
  ];
  return h(
    'details',
    { class: 'node-facts' },
    h('summary', {}, 'Facts', h('span', { class: 'visually-hidden' }, ` of ${node.name}`)),
    h('dl', { class: 'facts' }, ...rows.flatMap(([term, ...value]) => [h('dt', {}, term), h('dd', {}, ...value)])),
    f.peers.length
      ? h(
          'ul',
          { class: 'peers', 'aria-label': `Peers of ${node.name}` },
          ...f.peers.map((/** @type {any} */ p) => h('li', { 'data-peer': p.name }, h('span', { class: 'name' }, p.name), ' ', h('span', { class: `path path-${p.path ?? 'none'}` }, pathText(p)))),
        )
      : null,
    f.truncated ? h('p', { class: 'hint' }, 'Cut to fit one report.') : null,
  );
}

/** @param {any} node @param {FleetView} view */
function nodeActions(node, view) {
  if (node.status === 'pending') {
    return h(
      'p',
      { class: 'actions' },
      h('button', { type: 'button', 'aria-label': `Approve ${node.name}`, onclick: () => view.decide(node, 'approve') }, 'Approve'),
      h('button', { type: 'button', class: 'danger', 'aria-label': `Reject ${node.name}`, onclick: () => view.decide(node, 'revoke') }, 'Reject'),
    );
  }
  // The authority cannot revoke itself (the API answers 409), so it is not offered.
  if (node.status !== 'active' || node.id === view.authority) return null;
  if (view.confirmingRevoke !== node.id) {
    return h('p', { class: 'actions' }, h('button', { type: 'button', class: 'quiet', 'aria-label': `Revoke ${node.name}`, onclick: () => view.askRevoke(node) }, 'Revoke'));
  }
  // A second, deliberate action: revoking cannot be undone from here.
  return h(
    'div',
    { class: 'confirm-revoke', role: 'group', 'aria-label': `Confirm revoking ${node.name}` },
    h('p', { class: 'warning' }, `Revoke ${node.name}? It takes no more commands and its key stays revoked; it cannot be approved again.`),
    h(
      'p',
      { class: 'actions' },
      h('button', { type: 'button', class: 'danger confirm', onclick: () => view.decide(node, 'revoke') }, `Confirm revoke ${node.name}`),
      h('button', { type: 'button', class: 'quiet', onclick: () => view.askRevoke(null) }, 'Keep it'),
    ),
  );
}

/** @param {HTMLElement} el @param {any} node @param {FleetView} view */
export function fillFleetEntry(el, node, view) {
  const { now } = view;
  el.className = `node node-${node.status}`;
  // The authority hears itself; its health by acks would say nothing.
  const health = node.status === 'active' && node.id !== view.authority ? healthBadge(node, view) : null;
  const parts = [
    h('p', { class: 'node-name' }, h('strong', {}, node.name), ' ', h('span', { class: 'address' }, node.address)),
    h(
      'p',
      { class: 'node-meta' },
      `${node.role} · last heard `,
      h('time', { datetime: node.lastSeen ?? '', title: node.lastSeen ?? 'never' }, ago(node.lastSeen, now)),
    ),
    health && h('p', { class: 'node-health' }, 'health ', health),
    nodePath(node),
    nodeFacts(node, now),
    // Shown on both screens while the node waits: the operator compares it with the node's.
    node.status === 'pending' && node.code
      ? h('p', { class: 'join-code' }, 'join code ', h('code', {}, formatCode(node.code)))
      : null,
    // Someone forged command tags at the node until its key was retired; the fleet moved on.
    ...(node.keyRetirements
      ? [h('p', { class: 'node-meta' }, `command key retired ${node.keyRetirements.count}× by forged tags (last in epoch ${node.keyRetirements.lastEpoch}, `, h('time', { datetime: node.keyRetirements.lastAt }, ago(node.keyRetirements.lastAt, now)), ')')]
      : []),
    badge(NODE_STATUS, node.status),
    nodeActions(node, view),
  ];
  // A report comes every few seconds: an open facts disclosure stays open.
  const factsOpen = el.querySelector('details.node-facts')?.hasAttribute('open');
  el.replaceChildren(...parts.filter((part) => part !== null));
  if (factsOpen) el.querySelector('details.node-facts')?.setAttribute('open', '');
}

/** Keeps `list`'s children in the order of `items`, reusing each item's element by key. */
export function reconcile(
  /** @type {HTMLElement} */ list,
  /** @type {any[]} */ items,
  /** @type {(item: any) => string} */ key,
  /** @type {(item: any) => HTMLElement} */ create,
  /** @type {(el: HTMLElement, item: any) => void} */ update,
) {
  /** @type {Map<string, HTMLElement>} */
  const existing = new Map();
  for (const el of list.children) if (el instanceof HTMLElement) existing.set(el.dataset.key ?? '', el);
  const wanted = items.map((item) => {
    const el = existing.get(key(item));
    if (!el) return create(item);
    existing.delete(key(item));
    update(el, item);
    return el;
  });
  for (const el of existing.values()) el.remove();
  wanted.forEach((el, i) => {
    if (list.children[i] !== el) list.insertBefore(el, list.children[i] ?? null);
  });
}
