/**
 * The web console in a real browser: Debian's chromium driven by playwright-core (never a
 * downloaded browser), against a real primary and member. Logs in with TOTP, watches a client
 * arrive live, connects to a client and runs a command, edits a member's weight and sees the
 * primary apply it, enrols TOTP with a QR code, and checks that an operator reaches no admin page
 * or API. Screenshots of each page go to $SB_SCREENSHOTS_DIR (docs/ when refreshing the README's).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { CHROMIUM, launchChromium } from './helpers/consoleBrowser.js';
import { addOperator, enrolTotp, freePort, login, request, unusedTotp } from './helpers/api.js';
import { addKey, Proc, startClient, startServer, tempDir, waitFor, type RunningServer } from './helpers/harness.js';

const dir = tempDir('sb-console-');
const shots = process.env.SB_SCREENSHOTS_DIR ?? join(dir.path, 'shots');
const procs: Proc[] = [];
const secret = 'console-test-cluster-secret-0123456789';
let primary: RunningServer;
let member: RunningServer;
let memberAddress: string;
let defaultKey: string;
let otherKey: string;
let adminTotp: string;
let browser: Browser;
let adminContext: BrowserContext;
let page: Page;
let token: string;
const pageErrors: string[] = [];

async function client(name: string, key: string, extra: string[] = []): Promise<Proc> {
  const proc = await startClient([
    '--gateway',
    primary.address,
    '--key',
    key,
    '--name',
    name,
    '--group',
    name.startsWith('other') ? 'lab' : 'office',
    '--state',
    `${dir.path}/state-${name}`,
    ...extra,
  ]);
  procs.push(proc);
  return proc;
}

async function shot(p: Page, name: string): Promise<void> {
  await p.screenshot({ path: join(shots, `console-${name}.png`), fullPage: true });
}

async function newPage(context: BrowserContext): Promise<Page> {
  const p = await context.newPage();
  // A CSP violation (an inline script or style) shows up as a console error: none may occur.
  // Refusals the tests provoke (401 before login, 403 for an operator, 421 on a member) are expected.
  p.on(
    'console',
    (m) => m.type() === 'error' && !/status of (401|403|421)/.test(m.text()) && pageErrors.push(m.text()),
  );
  p.on('pageerror', (e) => pageErrors.push(e.message));
  return p;
}

async function logIn(p: Page, operator: string, password: string, totp?: string): Promise<void> {
  await p.goto(`http://${primary.address}/console/`);
  await p.fill('input[name=operator]', operator);
  await p.fill('input[name=password]', password);
  if (totp) await p.fill('input[name=totp]', totp);
  await p.click('form.login button[type=submit]');
  await p.locator('#clients').waitFor();
}

describe(
  'the web console',
  { skip: !existsSync(CHROMIUM) && `no ${CHROMIUM}: install Debian's chromium (.ci/run does)` },
  () => {
    before(async () => {
      mkdirSync(shots, { recursive: true });
      const [pp, mp] = [await freePort(), await freePort()];
      const env = { SWITCHBOARD_CLUSTER_SECRET: secret };
      primary = await startServer(
        `${dir.path}/primary`,
        ['--role', 'primary', '--advertise', `127.0.0.1:${pp}`],
        env,
        `127.0.0.1:${pp}`,
      );
      procs.push(primary.proc);
      defaultKey = await addKey(primary.data, 'default');
      otherKey = await addKey(primary.data, 'other');
      await addOperator(primary.data, 'admin', 'admin-password', 'admin');
      await addOperator(primary.data, 'ops', 'ops-password', 'operator', ['default']);
      await addOperator(primary.data, 'viewer', 'viewer-password', 'operator', ['other']);
      adminTotp = await enrolTotp(primary.data, 'admin');
      token = (await login(primary.address, 'admin', 'admin-password', await unusedTotp(adminTotp))).token;
      memberAddress = `127.0.0.1:${mp}`;
      await request(primary.address, 'POST', 'servers', { address: memberAddress, weight: 1000 }, { token });
      member = await startServer(
        `${dir.path}/member`,
        ['--role', 'member', '--primary', primary.address, '--advertise', memberAddress],
        env,
        memberAddress,
      );
      procs.push(member.proc);
      await waitFor(
        async () =>
          (await request(primary.address, 'GET', 'servers', undefined, { token })).body.some(
            (r: { address: string; status: string }) => r.address === memberAddress && r.status === 'up',
          ),
        'the member to link',
      );
      await client('box-1', defaultKey, ['--allow-exec', '--allow-forward', '22,8080']);
      await client('box-2', defaultKey);
      await client('other-1', otherKey);
      browser = await launchChromium();
      adminContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      page = await newPage(adminContext);
    });

    after(async () => {
      await browser?.close();
      await Promise.all(procs.map((p) => p.stop()));
      dir.remove();
    });

    test('the console is served with a strict CSP and no inline script', async () => {
      const answer = await request(primary.address, 'GET', '/console/');
      assert.equal(answer.status, 200);
      assert.match(String(answer.headers['content-security-policy']), /default-src 'self'; script-src 'self'/);
      assert.doesNotMatch(answer.text, /<script>|<script [^>]*>[^<]+<\/script>|\sstyle=|\son[a-z]+=/i);
    });

    test('an admin logs in with a TOTP code and sees every client', async () => {
      await page.goto(`http://${primary.address}/console/`);
      await page.locator('form.login').waitFor();
      await page.fill('input[name=operator]', 'admin');
      await page.fill('input[name=password]', 'admin-password');
      await page.click('form.login button[type=submit]');
      await page.getByText('TOTP code required').waitFor();
      await page.fill('input[name=password]', 'admin-password');
      await page.fill('input[name=totp]', await unusedTotp(adminTotp));
      await shot(page, 'login');
      await page.click('form.login button[type=submit]');
      await page.locator('#clients tr[data-id]').nth(2).waitFor();
      const names = await page.locator('#clients tr[data-id] td:first-child').allTextContents();
      assert.deepEqual(names, ['box-1', 'box-2', 'other-1']);
    });

    test('a client that connects appears without a reload, and one that leaves disappears', async () => {
      const marker = await page.evaluate(() => ((window as unknown as { marker: number }).marker = Math.random()));
      const live = await client('arrives-live', defaultKey);
      const row = page.locator('#clients tr[data-id]', { hasText: 'arrives-live' });
      try {
        await row.waitFor();
        assert.match((await row.textContent()) ?? '', /office/);
        await page.fill('input[type=search]', 'box');
        // The list redraws at the next animation frame after the search changes.
        await page.waitForFunction(() => document.querySelectorAll('#clients tr[data-id]').length === 2);
        assert.deepEqual(await page.locator('#clients tr[data-id] td:first-child').allTextContents(), [
          'box-1',
          'box-2',
        ]);
        await page.fill('input[type=search]', '');
        await shot(page, 'clients');
      } finally {
        // Gone whatever happened above: the tests after this one count the clients.
        await live.stop();
      }
      await row.waitFor({ state: 'detached' });
      assert.equal(
        await page.evaluate(() => (window as unknown as { marker: number }).marker),
        marker,
        'the page was not reloaded',
      );
    });

    test('connect shows the forward command and runs a short command on a client that allows it', async () => {
      await page.locator('#clients tr[data-id]', { hasText: 'box-1' }).getByRole('button', { name: 'Connect' }).click();
      const dialog = page.locator('dialog[open]');
      await dialog.waitFor();
      assert.match(
        (await dialog.locator('pre.command').first().textContent()) ?? '',
        /switchboard control --gateway 127\.0\.0\.1:\d+ .*--operator admin .*forward -- box-1 127\.0\.0\.1:10022:22$/,
      );
      await dialog.locator('input[name=command]').fill('echo hello-from-console');
      await dialog.getByRole('button', { name: 'Run' }).click();
      await dialog.locator('pre.output', { hasText: 'hello-from-console' }).waitFor();
      assert.match((await dialog.locator('pre.output').textContent()) ?? '', /exit code 0/);
      await shot(page, 'connect');
      await dialog.getByRole('button', { name: 'Close' }).click();
      await page.locator('#clients tr[data-id]', { hasText: 'box-2' }).getByRole('button', { name: 'Connect' }).click();
      assert.equal(
        await page.locator('dialog[open] input[name=command]').count(),
        0,
        'no command for a client without --allow-exec',
      );
      await page.locator('dialog[open]').getByRole('button', { name: 'Close' }).click();
    });

    test('the Servers page shows the primary and the member with the share picture', async () => {
      await page.click('#nav a[data-page=servers]');
      await page.locator('#servers tr[data-address]').nth(1).waitFor();
      const rows = await page.locator('#servers tr[data-address]').allTextContents();
      assert.ok(rows.some((r) => r.includes(primary.address) && r.includes('primary')));
      assert.ok(rows.some((r) => r.includes(memberAddress) && r.includes('member') && r.includes('up')));
      assert.equal(await page.locator('svg.chart rect.bar-weight').count(), 3, 'two servers and the legend');
      await shot(page, 'servers');
    });

    test("editing a member's weight in Configuration applies on the primary at once, and the Servers page follows live", async () => {
      await page.click('#nav a[data-page=config]');
      const row = page.locator('#server-table tr[data-address]', { hasText: memberAddress });
      await row.getByRole('button', { name: 'Edit' }).click();
      const dialog = page.locator('dialog[open]');
      assert.equal(await dialog.locator('input[name=port]').inputValue(), memberAddress.split(':')[1]);
      await dialog.locator('input[name=weight]').fill('777');
      await dialog.getByRole('button', { name: 'Save' }).click();
      // The member's row, by a cell of exactly 777: a port may hold those digits too (36777).
      const weightShown = (table: string) =>
        page.locator(`${table} tr[data-address="${memberAddress}"] td`, { hasText: /^\s*777\s*$/ }).waitFor();
      await weightShown('#server-table');
      const servers = await request(primary.address, 'GET', 'servers', undefined, { token });
      assert.equal(servers.body.find((r: { address: string }) => r.address === memberAddress).weight, 777);
      await page.locator('#cfg-operators tr[data-name]').first().waitFor();
      await page.locator('#cfg-security input[name=heartbeat]').waitFor();
      await shot(page, 'config');
      await page.click('#nav a[data-page=servers]');
      await weightShown('#servers');
    });

    test('an admin enrols an operator in TOTP and sees the QR code to scan', async () => {
      await page.click('#nav a[data-page=config]');
      await page.locator('#cfg-operators tr[data-name=viewer]').getByRole('button', { name: 'Enrol TOTP' }).click();
      const dialog = page.locator('dialog[open]');
      await dialog.locator('img.qr').waitFor();
      assert.ok(
        await dialog.locator('img.qr').evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0),
        'the QR code renders',
      );
      await shot(page, 'totp');
      await dialog.getByRole('button', { name: 'Done' }).click();
      await page.locator('#cfg-operators tr[data-name=viewer]', { hasText: 'enrolled' }).waitFor();
    });

    test('the Audit page lists logins and the changes, with who made them', async () => {
      await page.click('#nav a[data-page=audit]');
      await page.locator('#audit tbody tr').first().waitFor();
      const text = (await page.locator('#audit').textContent()) ?? '';
      assert.match(text, /server\.set/);
      assert.match(text, /login\.failed/);
      assert.match(text, /operator\.totp/);
      await shot(page, 'audit');
    });

    test('an operator sees only its keys and can reach no admin page or API (403)', async () => {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      try {
        const p = await newPage(context);
        await logIn(p, 'ops', 'ops-password');
        await p.locator('#clients tr[data-id]').nth(1).waitFor();
        assert.deepEqual(await p.locator('#clients tr[data-id] td:first-child').allTextContents(), ['box-1', 'box-2']);
        assert.deepEqual(await p.locator('#nav a').allTextContents(), ['Clients', 'Servers']);
        for (const pageName of ['config', 'audit']) {
          await p.goto(`http://${primary.address}/console/#/${pageName}`);
          await p.locator('#forbidden').waitFor();
        }
        const statuses = await p.evaluate(async () => {
          const session = (await (await fetch('/api/v1/session')).json()) as { csrf: string };
          const get = (path: string) => fetch(`/api/v1/${path}`).then((r) => r.status);
          const post = (path: string, body: unknown) =>
            fetch(`/api/v1/${path}`, {
              method: 'POST',
              headers: { 'content-type': 'application/json', 'x-csrf-token': session.csrf },
              body: JSON.stringify(body),
            }).then((r) => r.status);
          return [
            await get('keys'),
            await get('config'),
            await get('audit'),
            await get('operators'),
            await post('keys', { name: 'sneaky' }),
            await post('servers', { address: '127.0.0.1:1' }),
          ];
        });
        assert.deepEqual(statuses, [403, 403, 403, 403, 403, 403]);
        await shot(p, 'operator');
      } finally {
        await context.close();
      }
    });

    test('on a member, the console says which server is the primary and links there', async () => {
      const p = await newPage(adminContext);
      await p.goto(`http://${memberAddress}/console/`);
      const notice = p.locator('#not-primary');
      await notice.waitFor();
      assert.match((await notice.textContent()) ?? '', new RegExp(primary.address.replace(/\./g, '\\.')));
      assert.equal(await notice.locator('a').getAttribute('href'), `http://${primary.address}/console/`);
      await shot(p, 'member');
      await p.close();
    });

    test('no page raised an error or a CSP violation', () => {
      assert.deepEqual(pageErrors, []);
    });
  },
);
