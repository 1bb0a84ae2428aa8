// Heartbeats on the F8 page (Debian's chromium against the local mesh, the nodes reporting every
// second): leased shows up with the admin's path to it and its facts, then, once stopped, stale
// and then down — the page moves the badge itself when each threshold passes. Spawns the
// multi-process mesh and a browser: run under the lock.
import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { launchChromium, requireChromium, screenshotDir, startF8Mesh, type F8Mesh } from '../f8-page/support.js';

describe('F8 page: heartbeats, paths and facts (chromium, local mesh)', function () {
  this.timeout(90_000);
  let mesh: F8Mesh | undefined;
  let browser: BrowserContext | undefined;
  let page: Page;
  let shots: string;

  before(async function () {
    requireChromium(this);
    shots = screenshotDir();
    mesh = await startF8Mesh('telemetry-page', 1500, (fleet) => {
      // startF8Mesh's copies have no heartbeats (its page tests set last-heard times): put them back, every second.
      for (const n of fleet.filter((f) => f.role !== 'os-network-admin')) {
        const file = join(dirname(n.instanceDir), `${n.name}.pipeline.json`);
        const pipeline = JSON.parse(readFileSync(file, 'utf8'));
        pipeline.stages.report = { type: 'telemetry-report', config: { everySeconds: 1 } };
        writeFileSync(file, JSON.stringify(pipeline, null, 2));
      }
    });
    browser = await launchChromium();
    page = await browser.newPage();
    await page.goto(`${mesh.f8Url}/`);
    await page.getByLabel('Operator token').fill(mesh.f8Token);
    await page.keyboard.press('Enter');
    await page.getByRole('status').getByText('Live').waitFor();
  });
  after(async () => {
    await browser?.close();
    await mesh?.stop();
  });

  const leased = () => page.locator(`#fleet [data-key="${mesh!.fleet.find((n) => n.name === 'leased')!.id}"]`);
  const text = async (selector: string) => ((await leased().locator(selector).textContent()) ?? '').trim();

  it("shows leased up, the admin's path to it and its facts with its own peers' paths", async () => {
    await leased().locator('.health-up').waitFor();
    await leased().locator('.node-path').waitFor();
    expect(await text('.node-path')).to.match(/^path (direct|relayed|none)/);
    await leased().getByText('Facts').click();
    await leased().locator('.node-facts .peers [data-peer="cloud-relay"]').waitFor();
    const facts = await text('.node-facts dl');
    for (const term of ['Reported', 'Version', 'Uptime', 'Load', 'Memory', 'Disk free', 'Stages', 'Drops', 'Peers']) expect(facts).to.include(term);
    expect(await text('.node-facts .peers [data-peer="cloud-relay"]')).to.match(/^cloud-relay (direct|relayed|none|up)/);
    // Reports keep arriving every second: the open disclosure stays open across the updates.
    const first = await leased().locator('.node-facts dd time').getAttribute('datetime');
    await leased().locator(`.node-facts[open] dd time:not([datetime="${first}"])`).waitFor();
    await page.screenshot({ path: join(shots, 'telemetry-01-facts.png'), fullPage: true });
  });

  it('turns leased stale, then down, once it is stopped', async () => {
    const process = mesh!.nodes.get('leased')!.process;
    await new Promise((resolve) => {
      process.once('exit', resolve);
      process.kill('SIGTERM');
    });
    await leased().locator('.health-stale').waitFor({ timeout: 20_000 });
    await page.screenshot({ path: join(shots, 'telemetry-02-stale.png'), fullPage: true });
    await leased().locator('.health-down').waitFor({ timeout: 30_000 });
    expect(await text('.node-health')).to.equal('health down');
    await page.screenshot({ path: join(shots, 'telemetry-03-down.png'), fullPage: true });
  });
});
