/**
 * Issue 20, the console's Clients tab at size, in Debian's chromium against a real server and real
 * clients: only the rows in view exist in the DOM, a live arrival adds its row without rebuilding
 * the others and, above the rows in view, leaves them where they were, the "(none)" group selects clients without a group, a 375 px phone screen does not
 * scroll sideways, the system's dark mode darkens the page, and each row links to the other pages.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { addOperator } from './helpers/api.js';
import { addKey, Proc, startClient, startServer, tempDir, type RunningServer } from './helpers/harness.js';

const CHROMIUM = '/usr/bin/chromium';
const FLEET = 300;
const dir = tempDir('sb-console-clients-');
const procs: Proc[] = [];
let server: RunningServer;
let key: string;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

async function client(name: string, group?: string): Promise<Proc> {
  const args = ['--gateway', server.address, '--key', key, '--name', name, '--state', `${dir.path}/state-${name}`];
  const proc = await startClient(group ? [...args, '--group', group] : args);
  procs.push(proc);
  return proc;
}

/** Opens the console on `p` and logs in as the admin. */
async function logIn(p: Page): Promise<void> {
  await p.goto(`http://${server.address}/console/`);
  await p.fill('input[name=operator]', 'admin');
  await p.fill('input[name=password]', 'admin-password');
  await p.click('form.login button[type=submit]');
}

async function newPage(options: Parameters<Browser['newContext']>[0]): Promise<Page> {
  const context = await browser.newContext(options);
  const p = await context.newPage();
  p.on('console', (m) => m.type() === 'error' && !/status of 401/.test(m.text()) && pageErrors.push(m.text()));
  p.on('pageerror', (e) => pageErrors.push(e.message));
  await logIn(p);
  await p.locator('#clients tr[data-id]').first().waitFor();
  await p.locator('.count', { hasText: `of ${FLEET + 2}` }).waitFor();
  return p;
}

const rowNames = (p: Page) => p.locator('#clients tr[data-id] td:first-child').allTextContents();

describe('the Clients tab at size', { skip: !existsSync(CHROMIUM) && `no ${CHROMIUM}` }, () => {
  before(async () => {
    server = await startServer(`${dir.path}/data`);
    procs.push(server.proc);
    key = await addKey(server.data, 'default');
    await addOperator(server.data, 'admin', 'admin-password', 'admin');
    const bench = new Proc([
      'bench',
      'clients',
      '--gateway',
      server.address,
      '--key',
      key,
      '--count',
      String(FLEET),
      '--prefix',
      'pc',
    ]);
    procs.push(bench);
    await bench.waitForLine((l) => l.msg === 'all connected', `the ${FLEET} bench clients`, 90_000);
    await client('solo');
    await client('desk-1', 'office');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
    });
    page = await newPage({ viewport: { width: 1280, height: 800 } });
  });

  after(async () => {
    await browser?.close();
    await Promise.all(procs.map((p) => p.stop()));
    dir.remove();
  });

  test('only the rows in view are in the DOM, in natural order, and scrolling brings the others', async () => {
    const shown = await page.locator('#clients tr[data-id]').count();
    assert.ok(shown > 5 && shown < 80, `${shown} rows in the DOM for ${FLEET + 2} clients`);
    assert.deepEqual((await rowNames(page)).slice(0, 13), [
      'desk-1',
      ...Array.from({ length: 12 }, (_, i) => `pc-${i}`),
    ]);
    await page.locator('.list-viewport').evaluate((el) => (el.scrollTop = el.scrollHeight));
    await page.locator('#clients tr[data-id]', { hasText: 'solo' }).waitFor();
    const bottom = await rowNames(page);
    assert.deepEqual(bottom.slice(-3), [`pc-${FLEET - 2}`, `pc-${FLEET - 1}`, 'solo']);
    assert.ok(bottom.length < 80);
    await page.locator('.list-viewport').evaluate((el) => (el.scrollTop = 0));
    await page.locator('#clients tr[data-id]', { hasText: 'desk-1' }).waitFor();
  });

  test('a live arrival adds its row in place: the rows already shown are the same elements', async () => {
    await page
      .locator('#clients tr[data-id]')
      .evaluateAll((rows) => rows.forEach((r) => ((r as unknown as { kept: boolean }).kept = true)));
    const arrival = await client('pc-1a', 'pc');
    const row = page.locator('#clients tr[data-id]', { hasText: 'pc-1a' });
    await row.waitFor();
    assert.deepEqual((await rowNames(page)).slice(0, 5), ['desk-1', 'pc-0', 'pc-1', 'pc-1a', 'pc-2']);
    const kept = await page
      .locator('#clients tr[data-id]')
      .evaluateAll((rows) => rows.map((r) => [r.textContent, Boolean((r as unknown as { kept?: boolean }).kept)]));
    const fresh = kept.filter(([, k]) => !k).map(([text]) => text);
    assert.equal(fresh.length, 1, `only the new row is new: ${fresh.join(', ')}`);
    assert.match(String(fresh[0]), /^pc-1a/);
    await page.locator('.count', { hasText: `${FLEET + 3} of ${FLEET + 3}` }).waitFor();
    await arrival.stop();
    await row.waitFor({ state: 'detached' });
    assert.ok(
      (await page
        .locator('#clients tr[data-id]')
        .first()
        .evaluate((r) => (r as unknown as { kept?: boolean }).kept)) === true,
    );
  });

  test('an arrival above the rows in view leaves them where they were: same elements, same place', async () => {
    const viewport = page.locator('.list-viewport');
    await viewport.evaluate((el) => (el.scrollTop = 100 * 37));
    await page.locator('#clients tr[data-id] td.c-name', { hasText: /^pc-100$/ }).waitFor();
    const place = () =>
      page.locator('#clients tr[data-id]').evaluateAll((rows) =>
        rows.map((r) => ({
          id: r.getAttribute('data-id'),
          top: Math.round(r.getBoundingClientRect().top),
          kept: Boolean((r as unknown as { kept?: boolean }).kept),
        })),
      );
    await page
      .locator('#clients tr[data-id]')
      .evaluateAll((rows) => rows.forEach((r) => ((r as unknown as { kept: boolean }).kept = true)));
    const before = await place();
    const arrival = await client('pc-1b', 'pc'); // sorts among the first rows, far above the view
    await page.locator('.count', { hasText: `${FLEET + 3} of ${FLEET + 3}` }).waitFor();
    const after = await place();
    assert.deepEqual(after, before, 'the rows in view did not move and none was rebuilt');
    await arrival.stop();
    await page.locator('.count', { hasText: `${FLEET + 2} of ${FLEET + 2}` }).waitFor();
    await viewport.evaluate((el) => (el.scrollTop = 0));
  });

  test('the group "(none)" shows only the clients without a group; a group shows its own', async () => {
    await page.locator('select[aria-label=group] option', { hasText: '(none)' }).waitFor({ state: 'attached' });
    await page.selectOption('select[aria-label=group]', { label: '(none)' });
    await page.locator('.count', { hasText: `1 of` }).waitFor();
    assert.deepEqual(await rowNames(page), ['solo']);
    await page.selectOption('select[aria-label=group]', { label: 'office' });
    await page.locator('#clients tr[data-id]', { hasText: 'desk-1' }).waitFor();
    assert.deepEqual(await rowNames(page), ['desk-1']);
    await page.selectOption('select[aria-label=group]', { label: 'All groups' });
    await page.fill('input[type=search]', 'pc-29');
    await page.locator('.count', { hasText: '11 of' }).waitFor();
    assert.deepEqual(await rowNames(page), ['pc-29', ...Array.from({ length: 10 }, (_, i) => `pc-${290 + i}`)]);
    await page.fill('input[type=search]', '');
    await page.locator('.count', { hasText: `${FLEET + 2} of` }).waitFor();
  });

  test('each row links to the terminal, desktop, files and web pages, and a ticked client stays ticked', async () => {
    const row = page.locator('#clients tr[data-id]', { hasText: 'desk-1' });
    const id = await row.getAttribute('data-id');
    await row.getByText('Open').click();
    await row.locator('.menu a').first().waitFor();
    const hrefs = await row.locator('.menu a').evaluateAll((links) => links.map((a) => a.getAttribute('href')));
    assert.deepEqual(
      hrefs,
      ['terminal', 'desktop', 'files', 'web'].map((p) => `#/${p}/${id}`),
    );
    await row.locator('input.select').check();
    await page.locator('.list-viewport').evaluate((el) => (el.scrollTop = el.scrollHeight));
    await row.waitFor({ state: 'detached' });
    await page.locator('.list-viewport').evaluate((el) => (el.scrollTop = 0));
    assert.equal(await row.locator('input.select').isChecked(), true);
  });

  test('on a 375 px phone screen the page does not scroll sideways and the actions are in reach', async () => {
    const phone = await newPage({ viewport: { width: 375, height: 740 }, isMobile: true, hasTouch: true });
    const widths = await phone.evaluate(() => ({ page: document.documentElement.scrollWidth, screen: innerWidth }));
    assert.ok(widths.page <= widths.screen, `page ${widths.page} px wide on a ${widths.screen} px screen`);
    const button = await phone
      .locator('#clients tr[data-id]')
      .first()
      .getByRole('button', { name: 'Connect' })
      .boundingBox();
    assert.ok(button && button.x + button.width <= 375, 'the Connect button is on screen');
    await phone.context().close();
  });

  test('a client that arrives while the live stream is still opening is listed: the list loads once it is open', async () => {
    // The page's stream request is held at the browser: until it reaches the server, no change is sent to it.
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const late = await context.newPage();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let streamAsked!: () => void;
    const asked = new Promise<void>((resolve) => (streamAsked = resolve));
    await late.route('**/api/v1/events?*', async (route) => {
      streamAsked();
      await held;
      await route.continue();
    });
    try {
      await logIn(late);
      await asked;
      // A page that loads at once has its list by now; one that waits for the stream has not asked.
      await Promise.race([
        late.waitForResponse((r) => r.url().includes('/api/v1/clients')).catch(() => undefined),
        new Promise((r) => setTimeout(r, 1000)),
      ]);
      // Connected means welcomed: a standalone server lists a client before it sends the welcome.
      const arrival = await client('while-opening');
      release();
      await late.locator('.count', { hasText: `${FLEET + 3} of ${FLEET + 3}` }).waitFor({ timeout: 15_000 });
      await arrival.stop();
      await late.locator('.count', { hasText: `${FLEET + 2} of ${FLEET + 2}` }).waitFor({ timeout: 15_000 });
    } finally {
      release();
      await context.close();
    }
  });

  test('a live stream that fails at once each time is asked for again with backoff, and the page recovers', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const refused = await context.newPage();
    let asked = 0;
    await refused.route('**/api/v1/events?*', (route) => {
      asked++;
      return route.abort();
    });
    try {
      await logIn(refused);
      await refused.locator('.count').waitFor();
      await new Promise((r) => setTimeout(r, 6000));
      // Backoff of 0, 0, 1, 2, 4 s: five asks at most in 6 s; without it, one per round trip.
      assert.ok(asked >= 2 && asked <= 8, `the stream was asked for ${asked} times in 6 s`);
      await refused.unroute('**/api/v1/events?*');
      await refused.locator('.count', { hasText: `${FLEET + 2} of ${FLEET + 2}` }).waitFor({ timeout: 30_000 });
    } finally {
      await context.close();
    }
  });

  test("the page follows the system's dark mode", async () => {
    const luminance = (p: Page) =>
      p.evaluate(() => {
        const [r, g, b] = getComputedStyle(document.documentElement).backgroundColor.match(/\d+/g)!.map(Number);
        return (0.2126 * r! + 0.7152 * g! + 0.0722 * b!) / 255;
      });
    assert.ok((await luminance(page)) > 0.8, 'light by default');
    await page.emulateMedia({ colorScheme: 'dark' });
    assert.ok((await luminance(page)) < 0.2, 'dark in dark mode');
    const rowBackground = await page
      .locator('.list-viewport')
      .evaluate((el) => getComputedStyle(el).backgroundColor.match(/\d+/g)!.map(Number));
    assert.ok(
      rowBackground.slice(0, 3).every((c) => c < 80),
      `the list is dark too: ${rowBackground.join(',')}`,
    );
    await page.emulateMedia({ colorScheme: 'light' });
    assert.deepEqual(pageErrors, []);
  });
});
