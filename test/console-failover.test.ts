/**
 * Issue 20, "the console's live view reconnects to the acting primary by itself": a console logged
 * in on the primary, in real Chromium, shows the clients again from the secondary after kill -9 of
 * the primary, without the operator logging in again, and follows the primary back after failback.
 * Each server is reached at its own address (no shared name), so the page must change origin and
 * carry its login with a handover ticket (src/server/api/handoverTicket.ts); the ticket's rules are
 * checked on the API first. Last, one server reached by one name: the page says it is reconnecting
 * and, the server back (kill -9, restart), carries on from the same origin.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { addOperator, login, request } from './helpers/api.js';
import { CHROMIUM, launchChromium, logInToConsole } from './helpers/consoleBrowser.js';
import { FailoverCluster } from './helpers/failover.js';
import { addKey, startClient, startServer, type Proc } from './helpers/harness.js';
import { freePort } from './helpers/ports.js';

/** 127.0.204.0/24 is this file's: no other test uses it. */
const cluster = new FailoverCluster({ subnet: '127.0.204', members: 1, heartbeat: 1 });
const { primary, secondary } = cluster;
const PASSWORD = 'console-failover-password-1';
let browser: Browser | undefined;
const pageErrors: string[] = [];
/** Processes started outside the cluster helper, killed in the after hook. */
const others: Proc[] = [];

function redeem(address: string, ticket: string, headers: Record<string, string> = {}) {
  return request(address, 'POST', 'handover/redeem', { ticket }, { headers });
}

async function launched(): Promise<Browser> {
  browser ??= await launchChromium();
  return browser;
}

async function names(page: Page): Promise<string[]> {
  return (await page.locator('#clients tr[data-id] td:first-child').allTextContents()).sort();
}

async function showsClients(page: Page, host: string, want: string[]): Promise<void> {
  await page.waitForURL((url) => url.host === host, { timeout: 90_000 });
  await page.waitForFunction((n) => document.querySelectorAll('#clients tr[data-id]').length === n, want.length, {
    timeout: 90_000,
  });
  assert.deepEqual(await names(page), want);
}

describe(
  'the console follows the acting primary',
  { skip: !existsSync(CHROMIUM) && `no ${CHROMIUM}: install Debian's chromium (.ci/run does)` },
  () => {
    before(async () => {
      await cluster.configure();
      await addOperator(primary.data, 'ops', PASSWORD, 'admin');
      await cluster.startAll();
      await cluster.client('box-1');
      await cluster.client('box-2');
    });

    after(async () => {
      await browser?.close();
      await Promise.all(others.map((p) => p.stop('SIGKILL')));
      await cluster.cleanup();
    });

    test('a handover ticket opens the session on another server once, and only from its own page', async () => {
      const a = await login(primary.address, 'ops', PASSWORD);
      const issued = await request(primary.address, 'POST', 'handover', undefined, { cookie: a.cookie, csrf: a.csrf });
      assert.equal(issued.status, 200, issued.text);
      assert.deepEqual([...issued.body.consoles].sort(), [primary.address, secondary.address].sort());
      assert.ok(issued.body.expiresInMs > 0 && issued.body.expiresInMs <= 120_000);
      const { ticket } = issued.body as { ticket: string };
      assert.ok(!ticket.includes(a.token), 'the ticket does not show the token');

      // Another site cannot make a browser redeem it (a login CSRF), and a changed ticket opens nothing.
      const foreign = await redeem(secondary.address, ticket, { origin: 'http://evil.example' });
      assert.equal(foreign.status, 403, foreign.text);
      const flipped = `${ticket.slice(0, 20)}${ticket[20] === 'A' ? 'B' : 'A'}${ticket.slice(21)}`;
      assert.equal((await redeem(secondary.address, flipped)).status, 401);

      // The secondary is not acting, yet takes the ticket: a page may land there before it stands in.
      const taken = await redeem(secondary.address, ticket);
      assert.equal(taken.status, 200, taken.text);
      assert.equal(taken.body.operator, 'ops');
      assert.equal(taken.body.csrf, a.csrf, 'the same session: the same CSRF token');
      const cookie = String(taken.headers['set-cookie']).split(';')[0]!;
      assert.equal(cookie, a.cookie, "the same session token, as this server's cookie");
      assert.match(String(taken.headers['set-cookie']), /HttpOnly; SameSite=Strict/);
      assert.equal((await redeem(secondary.address, ticket)).status, 401, 'each server takes a ticket once');

      // A ticket of a session that logged out opens nothing.
      const b = await login(primary.address, 'ops', PASSWORD);
      const late = await request(primary.address, 'POST', 'handover', undefined, { token: b.token });
      assert.equal((await request(primary.address, 'POST', 'logout', undefined, { token: b.token })).status, 204);
      assert.equal((await redeem(primary.address, late.body.ticket as string)).status, 401);
      // Without a session there is no ticket.
      assert.equal((await request(primary.address, 'POST', 'handover')).status, 401);
    });

    test('the console shows the clients from the secondary after kill -9 of the primary, and follows failback', async () => {
      const context = await (await launched()).newContext({ viewport: { width: 1280, height: 800 } });
      const page = await context.newPage();
      page.on('pageerror', (e) => pageErrors.push(e.message));
      const logins: string[] = [];
      page.on('request', (r) => r.url().endsWith('/api/v1/login') && logins.push(r.url()));

      await logInToConsole(page, primary.address, 'ops', PASSWORD);
      await showsClients(page, primary.address, ['box-1', 'box-2']);
      // The page holds a ticket once it asked for one (it does right after login).
      await page
        .waitForResponse((r) => r.url().endsWith('/api/v1/handover') && r.ok(), { timeout: 30_000 })
        .catch(() => undefined);

      await cluster.kill9(primary);
      await page.locator('#connection', { hasText: /reconnecting/i }).waitFor({ timeout: 30_000 });
      await showsClients(page, secondary.address, ['box-1', 'box-2']);
      await page.locator('#connection').waitFor({ state: 'hidden' });
      assert.equal(await page.locator('form.login').count(), 0, 'no login page');
      assert.equal(new URL(page.url()).hash, '#/clients', 'the ticket is out of the address bar');
      // A client that arrives now shows live, through the secondary's event stream.
      await cluster.client('box-3');
      await page.locator('#clients tr[data-id]', { hasText: 'box-3' }).waitFor({ timeout: 60_000 });

      // The primary comes back and takes its role back; the page follows it there.
      await cluster.start(primary);
      await primary.proc!.waitForMsg('took the primary role back', 60_000);
      await showsClients(page, primary.address, ['box-1', 'box-2', 'box-3']);
      assert.equal(await page.locator('form.login').count(), 0, 'no login page');
      assert.deepEqual(logins, [`http://${primary.address}/api/v1/login`], 'the operator logged in once');
      assert.deepEqual(pageErrors, []);
    });

    test('a server reached by one name: the console reconnects to the same origin when it is back', async () => {
      // One server, as behind a DNS name or a virtual IP: no other console to move to.
      const data = `${cluster.dir.path}/alone`;
      const key = await addKey(data, 'alone');
      await addOperator(data, 'ops', PASSWORD, 'admin');
      const address = `127.0.204.50:${await freePort('127.0.204.50')}`;
      const env = { SWITCHBOARD_CLUSTER_SECRET: 'console-failover-alone-secret-0123456789' };
      const first = await startServer(data, [], env, address);
      others.push(first.proc);
      const client = ['--gateway', address, '--key', key, '--state', `${data}-client`];
      others.push(await startClient([...client, '--name', 'alone-1']));
      const page = await (await launched()).newPage();
      page.on('pageerror', (e) => pageErrors.push(e.message));
      await logInToConsole(page, address, 'ops', PASSWORD);
      await showsClients(page, address, ['alone-1']);

      await first.proc.stop('SIGKILL');
      await page.locator('#connection', { hasText: /reconnecting/i }).waitFor({ timeout: 30_000 });
      others.push((await startServer(data, [], env, address)).proc);
      await page.locator('#connection').waitFor({ state: 'hidden', timeout: 60_000 });
      await showsClients(page, address, ['alone-1']);
      assert.equal(await page.locator('form.login').count(), 0, 'no login page');
      assert.deepEqual(pageErrors, []);
    });
  },
);
