// The F8 Terminal page in Debian's chromium (playwright-core) against the running local mesh:
// what an operator does, from signing in to watching a node's ack arrive. Screenshots of each
// view go to test-output/f8-page/.
import { expect } from 'chai';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { LOW_CONTRAST_TEXT } from './contrast.js';
import { openRegistry } from '../../core/registry/registry.js';
import { launchChromium, requireChromium, screenshotDir, startF8Mesh, type F8Mesh } from './support.js';

describe('F8 Terminal page in chromium (local mesh)', function () {
  this.timeout(120_000);
  let mesh: F8Mesh | undefined;
  let browser: BrowserContext | undefined;
  let page: Page;
  let shots: string;
  const requested: string[] = [];
  const pageErrors: string[] = [];

  before(async function () {
    requireChromium(this);
    shots = screenshotDir();
    console.log(`      screenshots: ${shots}`);
    mesh = await startF8Mesh('f8-page', 1500);
    browser = await launchChromium();
    page = await browser.newPage();
    page.on('request', (r) => requested.push(r.url()));
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.goto(`${mesh.f8Url}/`);
  });
  after(async () => {
    await browser?.close();
    await mesh?.stop();
  });

  const shoot = (name: string, fullPage = false) => page.screenshot({ path: join(shots, `${name}.png`), fullPage });
  const api = async (path: string, body?: object) => {
    const res = await fetch(`${mesh!.f8Url}${path}`, {
      method: body ? 'POST' : 'GET',
      headers: { authorization: `Bearer ${mesh!.f8Token}` },
      body: body && JSON.stringify(body),
    });
    return (await res.json()) as any;
  };
  const commandCount = async () => (await api('/v1/commands')).commands.length;
  const commandLine = () => page.getByLabel('Command in plain language');
  const focusedId = () => page.evaluate('document.activeElement && document.activeElement.id');
  const text = async (selector: string) => ((await page.locator(selector).textContent()) ?? '').trim();
  const targetStatus = (nodeId: number, status: string) => page.locator(`#live [data-node-id="${nodeId}"] .status-${status}`);

  it('refuses a wrong token and keeps nothing of it', async () => {
    await page.getByLabel('Operator token').waitFor();
    await shoot('01-sign-in');
    await page.getByLabel('Operator token').fill('not-the-operator-token-not-the-operator-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').getByText('That token was refused.').waitFor();
    await shoot('02-token-refused');
    expect(await page.evaluate('sessionStorage.length')).to.equal(0);
    expect(await page.locator('#console').isHidden()).to.equal(true);
  });

  it('signs in with the operator token, kept for this tab only, and shows the fleet live', async () => {
    await page.getByLabel('Operator token').fill(mesh!.f8Token);
    await page.keyboard.press('Enter');
    await page.getByRole('status').getByText('Live').waitFor();
    expect(await page.evaluate('sessionStorage.getItem("ppn.f8.token")')).to.equal(mesh!.f8Token);
    expect(await page.evaluate('localStorage.length')).to.equal(0);
    expect(await browser!.cookies()).to.deep.equal([]);
    const fleet = page.locator('#fleet > li');
    await fleet.nth(5).waitFor();
    expect(await fleet.locator('strong').allTextContents()).to.deep.equal(['cloud-relay', 'onprem', 'leased', 'admin', 'newcomer', 'stranger']);
    expect(await text('#fleet [data-key="3"] .node-meta')).to.match(/^os-infrastructure · last heard never$/);
    expect(await text('#fleet [data-key="20"] .status')).to.equal('pending approval');
    expect(await focusedId()).to.equal('command');
    // The same tab keeps the sign-in across a reload; another tab does not have it.
    await page.reload();
    await page.getByRole('status').getByText('Live').waitFor();
    const other = await browser!.newPage();
    await other.goto(`${mesh!.f8Url}/`);
    await other.getByLabel('Operator token').waitFor();
    expect(await other.locator('#console').isHidden()).to.equal(true);
    await other.close();
  });

  it("shows the router's backend, each pending node's join code and what health means", async () => {
    await page.locator('#router', { hasText: 'Router backend: catalog' }).waitFor();
    const code = (id: number) => `join code ${mesh!.joinCodes.get(id)!.slice(0, 4)}-${mesh!.joinCodes.get(id)!.slice(4)}`;
    expect(await text('#fleet [data-key="20"] .join-code')).to.equal(code(20));
    expect(await text('#fleet [data-key="21"] .join-code')).to.equal(code(21));
    expect(await page.locator('#fleet .join-code').count()).to.equal(2);
    expect(await text('#health-legend')).to.equal('Without heartbeats, health by last heard (an authenticated ack): up within 5 min, stale within 15 min, down after that.');
    // Nothing acked yet: the nodes are not heard yet; the authority has no health of its own, nor a Revoke.
    expect(await text('#fleet [data-key="3"] .node-health')).to.equal('health not heard yet');
    const admin = mesh!.fleet.find((n) => n.role === 'os-network-admin')!;
    expect(await page.locator(`#fleet [data-key="${admin.id}"] .node-health`).count()).to.equal(0);
    expect(await page.getByRole('button', { name: 'Revoke admin' }).count()).to.equal(0);
    expect(await page.getByRole('button', { name: 'Revoke leased' }).count()).to.equal(1);
    await shoot('02b-join-codes');
  });

  it('F8 focuses the command line, Enter shows the draft without sending, Esc cancels it', async () => {
    const before = await commandCount();
    await page.getByRole('heading', { name: 'Fleet' }).click();
    await page.keyboard.press('F8');
    expect(await focusedId()).to.equal('command');
    await page.keyboard.type('restart telemetry on the leased node');
    await page.keyboard.press('Enter');
    await page.locator('#draft').waitFor();
    expect(await text('#draft-intent')).to.equal('restart-service (opcode 0x03)');
    expect(await text('#draft-arg')).to.equal('telemetry (1)');
    expect(await text('#draft-target')).to.equal('leased (selector 0x0003)');
    expect(await text('#draft-confidence')).to.match(/^\d{1,3} %$/);
    expect(await text('#draft-explanation')).to.include('restart-service');
    expect(await page.locator('#draft-targets li').allTextContents()).to.deep.equal(['leased 10.8.0.3']);
    expect(await page.locator('#draft-confirm-note').isHidden()).to.equal(true);
    await shoot('03-draft');
    expect(await commandCount()).to.equal(before);
    await page.keyboard.press('Escape');
    await page.locator('#draft').waitFor({ state: 'hidden' });
    expect(await commandLine().inputValue()).to.equal('restart telemetry on the leased node');
    expect(await commandCount()).to.equal(before);
  });

  it("sends on the second Enter and shows the node's ack as it arrives, counter and packet on demand", async () => {
    await page.keyboard.press('Enter');
    await page.locator('#draft').waitFor();
    await page.keyboard.press('Enter');
    await targetStatus(3, 'executed').waitFor();
    expect(await text('#live [data-node-id="3"] .detail')).to.equal('restarted telemetry (stage telemetry)');
    await page.locator('#announcer', { hasText: 'leased: executed' }).waitFor({ state: 'attached' });
    expect(await commandLine().inputValue()).to.equal('');
    const [sent] = (await api('/v1/commands?limit=1')).commands;
    expect(sent).to.include({ text: 'restart telemetry on the leased node', intent: 'restart-service' });
    const packet = page.locator('#live [data-node-id="3"] .hex');
    expect(await packet.isHidden()).to.equal(true);
    await page.locator('#live').getByText('Counter and packet').click();
    expect(await packet.textContent()).to.equal(sent.targets[0].packet).and.match(/^[0-9a-f]{32}$/);
    expect(await text('#live [data-node-id="3"] .packet dd:first-of-type')).to.equal(sent.counter);
    await page.locator('#fleet [data-key="3"] time', { hasText: /just now|s ago/ }).waitFor();
    await shoot('04-sent-and-acked');
  });

  it('asks for a confirm step before sending an intent flagged confirm', async () => {
    const before = await commandCount();
    await commandLine().fill('reboot the leased node');
    await page.keyboard.press('Enter');
    await page.locator('#draft-confirm-note').waitFor();
    expect(await text('#draft-confirm-note')).to.include('“reboot” must be confirmed');
    const confirm = page.getByRole('button', { name: 'Confirm and send' });
    await confirm.waitFor();
    // Enter on the command line only moves to the confirm button; nothing is sent yet.
    await page.keyboard.press('Enter');
    expect(await focusedId()).to.equal('send');
    expect(await commandCount()).to.equal(before);
    await shoot('05-confirm-step');
    await page.keyboard.press('Enter');
    await targetStatus(3, 'failed').waitFor();
    expect(await text('#live [data-node-id="3"] .detail')).to.equal('no handler configured for reboot on this node');
    expect(await commandCount()).to.equal(before + 1);
  });

  it('shows an abstention with suggestions that fill the command line and preview', async () => {
    await commandLine().fill('what is the weather like tomorrow');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Not understood' }).waitFor();
    expect(await text('#abstention-explanation')).to.include('out-of-scope');
    const suggestions = page.locator('#suggestions button');
    expect(await suggestions.count()).to.be.greaterThan(0);
    await shoot('06-abstention');
    const first = (await suggestions.first().textContent())!;
    await suggestions.first().click();
    await page.locator('#draft').waitFor();
    expect(await commandLine().inputValue()).to.equal(first);
    await page.keyboard.press('Escape');
    await page.locator('#draft').waitFor({ state: 'hidden' });
  });

  it('approves and rejects nodes waiting for approval', async () => {
    await page.getByRole('button', { name: 'Approve newcomer' }).click();
    await page.locator('#fleet [data-key="20"] .status-active').waitFor();
    await page.getByRole('button', { name: 'Reject stranger' }).click();
    await page.locator('#fleet [data-key="21"] .status-revoked').waitFor();
    expect(await page.getByRole('button', { name: /^(Approve|Reject) / }).count()).to.equal(0);
    const nodes = (await api('/v1/nodes')).nodes;
    // A rejected request that was never admitted is forgotten (its id free again), not kept as revoked.
    expect(nodes.filter((n: { id: number }) => n.id >= 20).map((n: { id: number; status: string }) => [n.id, n.status])).to.deep.equal([[20, 'active']]);
    await shoot('07-fleet-decided');
  });

  it('revokes an active node only after a confirm step, which can be withdrawn', async () => {
    await page.getByRole('button', { name: 'Revoke newcomer' }).click();
    const confirm = page.getByRole('button', { name: 'Confirm revoke newcomer' });
    await confirm.waitFor();
    expect(await page.evaluate('document.activeElement && document.activeElement.textContent')).to.equal('Confirm revoke newcomer');
    expect(await text('#fleet [data-key="20"] .confirm-revoke .warning')).to.include('Revoke newcomer?');
    expect(await page.evaluate(LOW_CONTRAST_TEXT)).to.deep.equal([]);
    await shoot('07b-revoke-confirm');
    await page.getByRole('button', { name: 'Keep it' }).click();
    await confirm.waitFor({ state: 'detached' });
    expect(await page.evaluate('document.activeElement && document.activeElement.getAttribute("aria-label")')).to.equal('Revoke newcomer');
    expect((await api('/v1/nodes')).nodes.find((n: { id: number }) => n.id === 20).status).to.equal('active');
    await page.getByRole('button', { name: 'Revoke newcomer' }).click();
    await confirm.click();
    await page.locator('#fleet [data-key="20"] .status-revoked').waitFor();
    await page.locator('#announcer', { hasText: 'newcomer revoked.' }).waitFor({ state: 'attached' });
    expect(await page.getByRole('button', { name: 'Revoke newcomer' }).count()).to.equal(0);
    expect((await api('/v1/nodes')).nodes.find((n: { id: number }) => n.id === 20).status).to.equal('revoked');
  });

  it('lists the history newest first, including commands sent from elsewhere', async () => {
    const elsewhere = await api('/v1/intents', { text: 'ping onprem' });
    await page.locator(`#history > li[data-key="${elsewhere.id}"]`).waitFor();
    expect(await page.locator('#history > li .text').allTextContents()).to.deep.equal([
      'ping onprem',
      'reboot the leased node',
      'restart telemetry on the leased node',
    ]);
    await page.locator(`#history > li[data-key="${elsewhere.id}"] .outcome`, { hasText: '1 executed' }).waitFor();
    await page.locator('#history > li summary').first().click();
    await shoot('08-history');
  });

  it('labels health up, stale and down by the age of last heard', async () => {
    // leased and onprem answered just now; onprem and cloud-relay are made to have been heard
    // 10 and 20 minutes ago (thresholds 5 and 15 min), as the admin's registry would say.
    const admin = mesh!.fleet.find((n) => n.role === 'os-network-admin')!;
    const byName = (name: string) => mesh!.fleet.find((n) => n.name === name)!.id;
    await page.locator(`#fleet [data-key="${byName('onprem')}"] .health-up`).waitFor();
    const registry = openRegistry(join(admin.instanceDir, 'admin.db'));
    try {
      const set = registry.db.prepare('UPDATE nodes SET last_seen = ? WHERE id = ?');
      set.run(new Date(Date.now() - 10 * 60_000).toISOString(), byName('onprem'));
      set.run(new Date(Date.now() - 20 * 60_000).toISOString(), byName('cloud-relay'));
    } finally {
      registry.close();
    }
    await page.reload();
    await page.getByRole('status').getByText('Live').waitFor();
    const health = (name: string) => text(`#fleet [data-key="${byName(name)}"] .node-health`);
    await page.locator(`#fleet [data-key="${byName('cloud-relay')}"] .health-down`).waitFor();
    expect([await health('leased'), await health('onprem'), await health('cloud-relay')]).to.deep.equal(['health up', 'health stale', 'health down']);
    expect(await text(`#fleet [data-key="${byName('onprem')}"] .node-meta`)).to.equal('os-infrastructure · last heard 10 min ago');
    await shoot('08b-health');
  });

  it('pages back through the history with Show older commands', async () => {
    for (let i = 0; i < 50; i++) await api('/v1/intents', { text: 'ping onprem' });
    // A fresh snapshot holds one page (50); the three commands from before are one page back.
    await page.reload();
    await page.getByRole('status').getByText('Live').waitFor();
    const older = page.getByRole('button', { name: 'Show older commands' });
    await older.waitFor();
    const keys = await page.evaluate('[...document.querySelectorAll("#history > li")].map((l) => l.dataset.key).join(" ")');
    expect(await page.locator('#history > li').count(), String(keys)).to.equal(50);
    await older.click();
    await page.locator('#history > li').nth(52).waitFor();
    await older.waitFor({ state: 'hidden' });
    expect(await page.locator('#history > li').count()).to.equal(53);
    expect(await page.locator('#history > li .text').last().textContent()).to.equal('restart telemetry on the leased node');
    await page.locator('#announcer', { hasText: '3 older commands shown; that is the whole history.' }).waitFor({ state: 'attached' });
    await shoot('08c-history-older');
  });

  it('keeps text contrast at 4.5:1 or more', async () => {
    expect(await page.evaluate(LOW_CONTRAST_TEXT)).to.deep.equal([]);
  });

  it("shows 'no answer by its deadline' for a node that stopped answering", async () => {
    const leased = mesh!.nodes.get('leased')!.process;
    await new Promise((resolve) => {
      leased.once('exit', resolve);
      leased.kill('SIGTERM');
    });
    await commandLine().fill('ping leased');
    await page.keyboard.press('Enter');
    await page.locator('#draft').waitFor();
    await page.keyboard.press('Enter');
    await targetStatus(3, 'no-answer').waitFor();
    expect(await text('#live [data-node-id="3"] .status')).to.equal('no answer by its deadline');
    await shoot('09-no-answer');
  });

  it('is usable 360 px wide', async () => {
    await page.setViewportSize({ width: 360, height: 780 });
    expect(await page.evaluate('document.documentElement.scrollWidth')).to.be.at.most(360);
    for (const control of ['#command', '#fleet', '#history']) {
      const box = (await page.locator(control).boundingBox())!;
      expect(box.x, control).to.be.at.least(0);
      expect(box.x + box.width, control).to.be.at.most(360);
    }
    expect(await page.evaluate(LOW_CONTRAST_TEXT)).to.deep.equal([]);
    await shoot('10-narrow-360px', true);
  });

  it('loaded nothing from elsewhere, never put the token in a URL, and threw no script errors', () => {
    expect(requested.length).to.be.greaterThan(5);
    for (const url of requested) {
      expect(url.startsWith(`${mesh!.f8Url}/`), url).to.equal(true);
      expect(url).to.not.include(mesh!.f8Token);
    }
    expect(page.url()).to.equal(`${mesh!.f8Url}/`);
    expect(pageErrors).to.deep.equal([]);
  });
});
