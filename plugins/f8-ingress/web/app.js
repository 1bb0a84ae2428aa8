// The F8 Terminal page: sign in with the operator token, preview what the router makes of a
// sentence, send it (confirming when the intent asks for it) and follow each target's answer
// live; the fleet and the command history stay current from the server's event stream.
import { ApiError, createApi, storedToken } from './api.js';
import {
  ago,
  draftTargetsText,
  duration,
  fillFleetEntry,
  fleetEntry,
  h,
  HEALTH,
  healthOf,
  historyEntry,
  liveCommand,
  reconcile,
  TARGET_STATUS,
  updateHistoryEntry,
  updateLiveCommand,
} from './views.js';

/** @param {string} id */
const byId = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const ui = {
  signIn: byId('sign-in'),
  signInForm: /** @type {HTMLFormElement} */ (byId('sign-in-form')),
  token: /** @type {HTMLInputElement} */ (byId('token')),
  signInError: byId('sign-in-error'),
  signOut: byId('sign-out'),
  connection: byId('connection'),
  console: byId('console'),
  commandForm: /** @type {HTMLFormElement} */ (byId('command-form')),
  command: /** @type {HTMLInputElement} */ (byId('command')),
  commandError: byId('command-error'),
  previewStatus: byId('preview-status'),
  draft: byId('draft'),
  send: /** @type {HTMLButtonElement} */ (byId('send')),
  cancel: byId('cancel'),
  abstention: byId('abstention'),
  live: byId('live'),
  liveCommand: byId('live-command'),
  fleet: byId('fleet'),
  fleetError: byId('fleet-error'),
  history: byId('history'),
  older: /** @type {HTMLButtonElement} */ (byId('older')),
  historyError: byId('history-error'),
  router: byId('router'),
  healthLegend: byId('health-legend'),
  announcer: byId('announcer'),
};

/** Commands per page of history. */
const HISTORY_PAGE = 50;

/**
 * @typedef {{ text: string, draft: any, targets: any[], problem?: string }} Preview
 * @type {{
 *   api: ReturnType<typeof createApi> | null,
 *   nodes: Map<number, any>,
 *   commands: Map<string, any>,
 *   preview: Preview | null,
 *   previewing: AbortController | null,
 *   sending: boolean,
 *   liveId: string | null,
 *   stream: AbortController | null,
 *   clock: number | undefined,
 *   status: { authority: number, router: { backend: string | null } | null, health: { staleAfterMs: number, downAfterMs: number } } | null,
 *   confirmingRevoke: number | null,
 *   older: string | null,
 *   pagedBack: boolean,
 * }}
 */
const state = {
  api: null,
  nodes: new Map(),
  commands: new Map(),
  preview: null,
  previewing: null,
  sending: false,
  liveId: null,
  stream: null,
  clock: undefined,
  status: null,
  confirmingRevoke: null,
  older: null,
  pagedBack: false,
};

/** @param {string} text */
const announce = (text) => (ui.announcer.textContent = text);

// ---- signing in and out

/** @param {string} token @param {boolean} remembered it came from this tab's storage */
async function signIn(token, remembered) {
  const api = createApi(token);
  ui.signInError.textContent = '';
  let nodes;
  try {
    nodes = await api.nodes();
  } catch (err) {
    storedToken.clear();
    if (!(err instanceof ApiError) || err.status !== 401) return showSignIn(`The F8 server did not answer: ${messageOf(err)}`);
    return showSignIn(remembered ? 'The saved token is no longer accepted; sign in again.' : 'That token was refused.');
  }
  storedToken.set(token);
  state.api = api;
  state.nodes = new Map(nodes.map((n) => [n.id, n]));
  document.body.dataset.state = 'signed-in';
  ui.signIn.hidden = true;
  ui.console.hidden = false;
  ui.signOut.hidden = false;
  ui.token.value = '';
  renderFleet();
  followEvents(api);
  ui.command.focus();
}

/** @param {string} message */
function showSignIn(message) {
  document.body.dataset.state = 'signed-out';
  ui.signIn.hidden = false;
  ui.console.hidden = true;
  ui.signOut.hidden = true;
  ui.connection.hidden = true;
  ui.signInError.textContent = message;
  ui.token.value = '';
  ui.token.focus();
}

/** @param {string} [message] */
function signOut(message = '') {
  state.stream?.abort();
  state.previewing?.abort();
  window.clearTimeout(state.clock);
  storedToken.clear();
  Object.assign(state, { api: null, nodes: new Map(), commands: new Map(), preview: null, previewing: null, liveId: null, stream: null, status: null, confirmingRevoke: null, older: null, pagedBack: false });
  clearPreview();
  ui.command.value = '';
  ui.live.hidden = true;
  for (const el of [ui.liveCommand, ui.fleet, ui.history]) el.replaceChildren();
  ui.older.hidden = true;
  ui.router.textContent = '';
  ui.healthLegend.textContent = '';
  showSignIn(message);
}

const refused = () => signOut('The server refused the token; sign in again.');

// ---- the event stream

/** Follows /v1/events for as long as this sign-in lasts, reconnecting with a growing pause. @param {ReturnType<typeof createApi>} api */
async function followEvents(api) {
  const stream = new AbortController();
  state.stream = stream;
  let pause = 1000;
  while (!stream.signal.aborted) {
    setConnection('connecting', 'Connecting…');
    try {
      await api.followEvents((event, data) => {
        if (event === 'ready') {
          pause = 1000;
          setConnection('live', 'Live');
          loadSnapshot(api);
        } else if (event === 'node') upsertNode(data);
        else if (event === 'command' && withinHistory(data)) upsertCommand(data);
      }, stream.signal);
    } catch (err) {
      if (stream.signal.aborted) return;
      if (err instanceof ApiError && err.status === 401) return refused();
    }
    if (stream.signal.aborted) return;
    setConnection('offline', 'Disconnected; reconnecting…');
    await new Promise((resolve) => setTimeout(resolve, pause));
    pause = Math.min(pause * 2, 15_000);
  }
}

/** @param {'connecting' | 'live' | 'offline'} kind @param {string} text */
function setConnection(kind, text) {
  ui.connection.hidden = false;
  ui.connection.dataset.kind = kind;
  ui.connection.textContent = text;
}

/** Loaded after the stream is open, so that no change falls between the two. @param {ReturnType<typeof createApi>} api */
async function loadSnapshot(api) {
  try {
    const [nodes, page, status] = await Promise.all([api.nodes(), api.commands(HISTORY_PAGE), api.status()]);
    state.status = status;
    renderStatus();
    state.nodes = new Map(nodes.map((n) => [n.id, n]));
    renderFleet();
    for (const c of page.commands) upsertCommand(c);
    // Older pages already shown keep their own cursor; a reconnect only refreshes the newest.
    if (state.pagedBack) return;
    setOlder(page.next);
    // An older command the stream named meanwhile (its deadline passing, a late ack) waits for its
    // page: shown now, it would open a gap in the history.
    const oldest = page.commands.at(-1)?.at;
    if (!page.next || !oldest) return;
    for (const c of state.commands.values()) if (c.at < oldest) state.commands.delete(c.id);
    renderHistory();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) refused();
  }
}

// ---- records

/** @param {any} node */
function upsertNode(node) {
  state.nodes.set(node.id, node);
  renderFleet();
}

/** Later statuses win whatever order the answers arrive in: an ack can beat the reply to the send. */
/** @type {Record<string, number>} */
const STATUS_RANK = { sent: 0, 'no-answer': 1 };
/** @param {string} status */
const rank = (status) => STATUS_RANK[status] ?? 2;

/**
 * Whether a command the stream names belongs to the history shown: any command already shown,
 * and new ones; an older one (below the pages loaded) would open a gap in it, so waits for its page.
 * @param {any} command
 */
function withinHistory(command) {
  if (state.commands.has(command.id) || state.older === null) return true;
  return [...state.commands.values()].some((shown) => shown.at <= command.at);
}

/** @param {any} next */
function upsertCommand(next) {
  const old = state.commands.get(next.id);
  const targets = next.targets.map((/** @type {any} */ t) => {
    const before = old?.targets.find((/** @type {any} */ o) => o.nodeId === t.nodeId);
    return before && rank(before.status) > rank(t.status) ? before : t;
  });
  const command = { ...old, ...next, targets };
  state.commands.set(command.id, command);
  renderHistory();
  if (command.id !== state.liveId) return;
  renderLive();
  const changed = targets.filter((/** @type {any} */ t) => old && old.targets.find((/** @type {any} */ o) => o.nodeId === t.nodeId)?.status !== t.status);
  if (changed.length) announce(statusLine(changed));
}

/** "leased: executed; onprem: sent, waiting" @param {any[]} targets */
const statusLine = (targets) => targets.map((t) => `${t.name}: ${TARGET_STATUS[t.status] ?? t.status}`).join('; ');

// ---- rendering

/** @returns {import('./views.js').FleetView} */
const fleetView = () => ({
  now: Date.now(),
  health: state.status?.health ?? null,
  authority: state.status?.authority ?? null,
  confirmingRevoke: state.confirmingRevoke,
  decide,
  askRevoke,
});

function renderFleet() {
  const view = fleetView();
  reconcile(
    ui.fleet,
    [...state.nodes.values()].sort((a, b) => a.id - b.id),
    (n) => String(n.id),
    (n) => fleetEntry(n, view),
    (el, n) => fillFleetEntry(el, n, view),
  );
  // A node heard just now changes when the next badge moves.
  tick();
}

/** The router's backend and what the health labels mean, from GET /v1/status. */
function renderStatus() {
  const status = state.status;
  if (!status) return;
  ui.router.textContent = status.router ? `Router backend: ${status.router.backend ?? 'unknown'}` : 'Router backend: none (this node runs no router stage)';
  const { staleAfterMs, downAfterMs } = status.health;
  ui.healthLegend.textContent = `Without heartbeats, health by last heard (an authenticated ack): ${HEALTH.up} within ${duration(staleAfterMs)}, ${HEALTH.stale} within ${duration(downAfterMs)}, ${HEALTH.down} after that.`;
}

/**
 * Moves the times and badges every 10 s, and at the moment any node's health changes (a node
 * that reports every second goes stale 3 s after its last report: the page says so then).
 */
function tick() {
  window.clearTimeout(state.clock);
  refreshTimes();
  const now = Date.now();
  let next = now + 10_000;
  for (const badge of ui.fleet.querySelectorAll('.health[data-last-seen]')) {
    const seen = Date.parse(badge.getAttribute('data-last-seen') ?? '');
    if (Number.isNaN(seen)) continue;
    for (const after of [badge.getAttribute('data-stale-after'), badge.getAttribute('data-down-after')]) {
      const at = seen + Number(after);
      if (at > now) next = Math.min(next, at + 1);
    }
  }
  state.clock = window.setTimeout(tick, next - now);
}

/** Only the "last heard" texts and health badges move with the clock; rebuilding rows would take focus away. */
function refreshTimes() {
  const now = Date.now();
  for (const time of ui.fleet.querySelectorAll('time[datetime]')) {
    const at = time.getAttribute('datetime');
    if (at) time.textContent = ago(at, now);
  }
  for (const badge of ui.fleet.querySelectorAll('.health[data-last-seen]')) {
    // Each node's own thresholds (its heartbeat interval, or the F8 stage's for a node without reports).
    const thresholds = { staleAfterMs: Number(badge.getAttribute('data-stale-after')), downAfterMs: Number(badge.getAttribute('data-down-after')) };
    const health = healthOf(badge.getAttribute('data-last-seen') || undefined, now, thresholds);
    badge.className = `health health-${health}`;
    badge.textContent = HEALTH[health];
  }
}

function renderHistory() {
  const newestFirst = [...state.commands.values()].sort((a, b) => (b.at ?? '').localeCompare(a.at ?? '') || Number(b.counter) - Number(a.counter));
  reconcile(ui.history, newestFirst, (c) => c.id, historyEntry, updateHistoryEntry);
}

/** @param {string | undefined} next the cursor of the next older page, if there is one */
function setOlder(next) {
  state.older = next ?? null;
  ui.older.hidden = state.older === null;
}

async function loadOlder() {
  const api = state.api;
  if (!api || !state.older) return;
  ui.older.disabled = true;
  ui.historyError.textContent = '';
  try {
    const page = await api.commands(HISTORY_PAGE, state.older);
    state.pagedBack = true;
    for (const c of page.commands) upsertCommand(c);
    setOlder(page.next);
    announce(`${page.commands.length} older commands shown${page.next ? '' : '; that is the whole history'}.`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return refused();
    ui.historyError.textContent = `Could not load older commands: ${messageOf(err)}`;
  } finally {
    ui.older.disabled = false;
  }
}

function renderLive() {
  const command = state.liveId && state.commands.get(state.liveId);
  if (!command) return;
  ui.live.hidden = false;
  const shown = ui.liveCommand.firstElementChild;
  if (shown instanceof HTMLElement && shown.dataset.key === command.id) updateLiveCommand(shown, command);
  else ui.liveCommand.replaceChildren(liveCommand(command));
}

// ---- the command line

function clearPreview() {
  state.preview = null;
  ui.draft.hidden = true;
  ui.abstention.hidden = true;
  ui.previewStatus.textContent = '';
  ui.commandError.textContent = '';
}

/** @param {string} text */
async function preview(text) {
  const api = state.api;
  if (!api) return;
  state.previewing?.abort();
  clearPreview();
  const previewing = new AbortController();
  state.previewing = previewing;
  ui.previewStatus.textContent = 'Asking the router…';
  let answer;
  try {
    answer = await api.request('/v1/intents', { method: 'POST', body: { text, dryRun: true }, signal: previewing.signal });
  } catch (err) {
    if (!previewing.signal.aborted) showError(`The F8 server did not answer: ${messageOf(err)}`);
    return;
  } finally {
    if (state.previewing === previewing) state.previewing = null;
  }
  ui.previewStatus.textContent = '';
  showAnswer(text, answer);
}

/** What a preview or a send answered, when it is not a sent command. @param {string} text @param {{ status: number, body: any }} answer */
function showAnswer(text, { status, body }) {
  if (status === 200 || status === 409) return showDraft({ text, draft: body.draft, targets: body.targets });
  if (status === 422 && body.suggestions) return showAbstention(body);
  if (status === 422 && body.draft) return showDraft({ text, draft: body.draft, targets: [], problem: body.error });
  if (status === 401) return refused();
  showError(body.error ?? `The server answered ${status}.`);
}

/** @param {Preview} p */
function showDraft(p) {
  state.preview = p;
  const { draft } = p;
  const hex = (/** @type {number} */ n, /** @type {number} */ digits) => `0x${n.toString(16).padStart(digits, '0')}`;
  byId('draft-intent').textContent = `${draft.intent} (opcode ${hex(draft.opcode, 2)})`;
  byId('draft-arg').textContent = draft.argName ? `${draft.argName} (${draft.arg})` : 'none';
  byId('draft-target').textContent = draftTargetsText(draft);
  byId('draft-confidence').textContent = `${Math.round(draft.confidence * 100)} %`;
  byId('draft-explanation').textContent = draft.explanation;
  byId('draft-targets').replaceChildren(
    ...(p.targets.length
      ? p.targets.map((t) => h('li', {}, h('span', { class: 'name' }, t.name), ' ', h('span', { class: 'address' }, t.address)))
      : [h('li', { class: 'error' }, p.problem ?? 'no node')]),
  );
  const note = byId('draft-confirm-note');
  note.hidden = !draft.confirm;
  note.textContent = draft.confirm ? `“${draft.intent}” must be confirmed: nothing is sent until you press Confirm and send.` : '';
  ui.send.textContent = draft.confirm ? 'Confirm and send' : 'Send';
  ui.send.classList.toggle('danger', draft.confirm);
  ui.send.disabled = p.targets.length === 0;
  ui.abstention.hidden = true;
  ui.draft.hidden = false;
}

/** @param {{ reason: string, explanation: string, suggestions: string[] }} abstention */
function showAbstention(abstention) {
  state.preview = null;
  ui.draft.hidden = true;
  byId('abstention-explanation').textContent = `${abstention.explanation} (${abstention.reason})`;
  byId('suggestions').replaceChildren(
    ...abstention.suggestions.map((s) =>
      h('li', {}, h('button', { type: 'button', class: 'suggestion', onclick: () => useSuggestion(s) }, s)),
    ),
  );
  ui.abstention.hidden = false;
}

/** @param {string} text */
function useSuggestion(text) {
  ui.command.value = text;
  ui.command.focus();
  preview(text);
}

/** @param {string} message */
function showError(message) {
  ui.previewStatus.textContent = '';
  ui.commandError.textContent = message;
}

async function send() {
  const api = state.api;
  const p = state.preview;
  if (!api || !p || state.sending || p.targets.length === 0) return;
  state.sending = true;
  ui.send.disabled = true;
  ui.previewStatus.textContent = 'Sending…';
  try {
    const answer = await api.request('/v1/intents', { method: 'POST', body: { text: p.text, confirm: p.draft.confirm } });
    if (answer.status !== 200) return showAnswer(p.text, answer);
    const sent = answer.body;
    state.liveId = sent.id;
    const known = state.commands.get(sent.id);
    upsertCommand({
      id: sent.id,
      at: known?.at ?? new Date().toISOString(),
      counter: sent.counter,
      epoch: sent.epoch,
      text: p.text,
      intent: sent.draft.intent,
      target: sent.draft.target,
      targets: sent.targets,
    });
    renderLive();
    clearPreview();
    ui.command.value = '';
    ui.command.focus();
    // An ack may have come in before this answer did.
    announce(`Sent ${sent.draft.intent}. ${statusLine(state.commands.get(sent.id).targets)}`);
  } catch (err) {
    showError(`The F8 server did not answer: ${messageOf(err)}`);
  } finally {
    state.sending = false;
    ui.send.disabled = !state.preview || state.preview.targets.length === 0;
  }
}

/** Enter previews; Enter on the same text sends, except that a confirm step is its own button. */
function onCommandEntered() {
  const text = ui.command.value.trim();
  if (!text) return;
  const p = state.preview;
  if (!p || p.text !== text) return preview(text);
  if (p.draft.confirm) {
    ui.send.focus();
    announce('Confirm with the Confirm and send button.');
    return;
  }
  send();
}

function cancel() {
  if (state.previewing) {
    state.previewing.abort();
    state.previewing = null;
  } else if (!state.preview && ui.abstention.hidden) ui.command.value = '';
  clearPreview();
  ui.command.focus();
  announce('Cancelled.');
}

/** Approve or reject a pending node; revoke an active one (after askRevoke's confirm step). @param {any} node @param {'approve' | 'revoke'} decision */
async function decide(node, decision) {
  if (!state.api) return;
  ui.fleetError.textContent = '';
  const verb = decision === 'approve' ? 'approve' : node.status === 'pending' ? 'reject' : 'revoke';
  state.confirmingRevoke = null;
  try {
    upsertNode(await state.api.decide(node.id, decision));
    announce(`${node.name} ${{ approve: 'approved', reject: 'rejected', revoke: 'revoked' }[verb]}.`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return refused();
    renderFleet();
    ui.fleetError.textContent = `Could not ${verb} ${node.name}: ${messageOf(err)}`;
  }
}

/** Shows (node) or withdraws (null) the confirm step of revoking a node, focusing what comes next. @param {any | null} node */
function askRevoke(node) {
  const back = state.confirmingRevoke;
  state.confirmingRevoke = node?.id ?? null;
  renderFleet();
  const row = ui.fleet.querySelector(`[data-key="${node?.id ?? back}"]`);
  const next = row?.querySelector(node ? 'button.confirm' : 'button');
  if (next instanceof HTMLElement) next.focus();
  if (node) announce(`Revoke ${node.name}? Confirm or keep it.`);
}

/** @param {unknown} err */
const messageOf = (err) => (err instanceof Error ? err.message : String(err));

// ---- wiring

ui.signInForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const token = ui.token.value.trim();
  if (!token) {
    ui.signInError.textContent = 'Enter the operator token.';
    return;
  }
  signIn(token, false);
});
ui.signOut.addEventListener('click', () => signOut());
ui.older.addEventListener('click', () => loadOlder());
ui.commandForm.addEventListener('submit', (e) => {
  e.preventDefault();
  onCommandEntered();
});
// A draft belongs to the text it was made from; editing the text retires it.
ui.command.addEventListener('input', () => {
  if (state.preview && state.preview.text !== ui.command.value.trim()) clearPreview();
});
ui.send.addEventListener('click', () => send());
ui.cancel.addEventListener('click', () => cancel());
document.addEventListener('keydown', (e) => {
  if (e.key === 'F8') {
    e.preventDefault();
    const target = state.api ? ui.command : ui.token;
    target.focus();
    target.select();
  } else if (e.key === 'Escape' && state.api) {
    e.preventDefault();
    cancel();
  }
});

const remembered = storedToken.get();
if (remembered) signIn(remembered, true);
else showSignIn('');
