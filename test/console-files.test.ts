/**
 * The console's Files page in real Chromium, against a real primary and a member holding the client
 * (so every files session is brokered through the primary): the page lists the client's
 * --allow-files directory, goes into a folder, downloads a file (equal bytes) and uploads one (kept
 * by the client, equal bytes). The API behind it refuses a path out of the directory and audits
 * each copy with its bytes.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import type { Browser, Page } from 'playwright-core';
import { addOperator, freePort, login, request } from './helpers/api.js';
import { addKey, Proc, startClient, startServer, tempDir, waitFor, type RunningServer } from './helpers/harness.js';
import { CHROMIUM, launchChromium, logInToConsole, watchedPage } from './helpers/consoleBrowser.js';
import { stopAll } from './helpers/sb.js';

const dir = tempDir('sb-console-files-');
const allowed = join(dir.path, 'allowed');
const procs: Proc[] = [];
const secret = 'console-files-cluster-secret-0123456789';
const report = randomBytes(300 * 1024);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
let primary: RunningServer;
let memberAddress: string;
let token: string;
let clientId: string;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

describe(
  'the console Files page',
  { skip: !existsSync(CHROMIUM) && `no ${CHROMIUM}: install Debian's chromium (.ci/run does)` },
  () => {
    before(async () => {
      mkdirSync(join(allowed, 'reports'), { recursive: true });
      writeFileSync(join(allowed, 'reports', 'q3.bin'), report);
      writeFileSync(join(allowed, 'readme.txt'), 'hello\n');
      const [pp, mp] = [await freePort(), await freePort()];
      const env = { SWITCHBOARD_CLUSTER_SECRET: secret };
      primary = await startServer(
        join(dir.path, 'primary'),
        ['--role', 'primary', '--advertise', `127.0.0.1:${pp}`],
        env,
        `127.0.0.1:${pp}`,
      );
      procs.push(primary.proc);
      const key = await addKey(primary.data, 'default');
      await addOperator(primary.data, 'admin', 'admin-password', 'admin');
      token = (await login(primary.address, 'admin', 'admin-password')).token;
      memberAddress = `127.0.0.1:${mp}`;
      // The primary takes no clients itself (weight 0), so the client lands on the member.
      await request(primary.address, 'POST', 'servers', { address: memberAddress, weight: 1000 }, { token });
      await request(primary.address, 'PUT', `servers/${encodeURIComponent(primary.address)}`, { weight: 0 }, { token });
      procs.push(
        (
          await startServer(
            join(dir.path, 'member'),
            ['--role', 'member', '--primary', primary.address, '--advertise', memberAddress],
            env,
            memberAddress,
          )
        ).proc,
      );
      await waitFor(
        async () =>
          (await request(primary.address, 'GET', 'servers', undefined, { token })).body.some(
            (r: { address: string; status: string }) => r.address === memberAddress && r.status === 'up',
          ),
        'the member to link',
      );
      procs.push(
        await startClient([
          '--gateway',
          primary.address,
          '--key',
          key,
          '--name',
          'box-files',
          '--state',
          join(dir.path, 'state'),
          '--allow-files',
          allowed,
        ]),
      );
      clientId = await waitFor(async () => {
        const clients = (await request(primary.address, 'GET', 'clients', undefined, { token })).body as {
          id: string;
          name: string;
          server: string;
        }[];
        return clients.find((c) => c.name === 'box-files' && c.server === memberAddress)?.id;
      }, 'the client on the member');
      browser = await launchChromium();
      page = await watchedPage(browser, pageErrors, { acceptDownloads: true });
      await logInToConsole(page, primary.address, 'admin', 'admin-password');
    });

    after(async () => {
      await browser?.close();
      await stopAll(procs);
      dir.remove();
    });

    test('lists the directory, goes into a folder, downloads a file with equal bytes', async () => {
      // The row's Open menu makes its links when first opened.
      await page.locator(`#clients tr[data-id="${clientId}"] summary`).click();
      await page.locator(`a[href="#/files/${clientId}"]`).click();
      await page.locator('#files tr[data-name="readme.txt"]').waitFor();
      assert.deepEqual(
        await page.locator('#files tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-name'))),
        ['readme.txt', 'reports'],
      );
      await page.locator('#files tr[data-name="reports"] a').click();
      await page.locator('#files tr[data-name="q3.bin"]').waitFor();
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.locator('#files tr[data-name="q3.bin"] a.button').click(),
      ]);
      assert.equal(download.suggestedFilename(), 'q3.bin');
      const saved = join(dir.path, 'downloaded.bin');
      await download.saveAs(saved);
      assert.equal(sha(readFileSync(saved)), sha(report));
      assert.deepEqual(pageErrors, []);
    });

    test('uploads a file into the folder shown; the client keeps it whole', async () => {
      const upload = randomBytes(200 * 1024);
      await page.setInputFiles('#files-choose', {
        name: 'from-browser.bin',
        mimeType: 'application/octet-stream',
        buffer: upload,
      });
      await page.click('#files-upload button[type=submit]');
      await page.locator('#files-status', { hasText: 'Uploaded reports/from-browser.bin' }).waitFor();
      assert.match((await page.locator('#files-status').textContent())!, new RegExp(sha(upload)));
      assert.equal(sha(readFileSync(join(allowed, 'reports', 'from-browser.bin'))), sha(upload));
      await page.locator('#files tr[data-name="from-browser.bin"]').waitFor();
      assert.deepEqual(pageErrors, []);
    });

    test('the API refuses a path out of the directory and audits each copy with its bytes', async () => {
      const out = await request(
        primary.address,
        'GET',
        `files/${clientId}/content?path=${encodeURIComponent('../primary/switchboard.db')}`,
        undefined,
        { token },
      );
      assert.equal(out.status, 403);
      assert.equal(out.body.error.code, 'SB_ERR_POLICY_REFUSED');
      const audit = (await request(primary.address, 'GET', 'audit', undefined, { token })).body as {
        action: string;
        detail: Record<string, unknown>;
      }[];
      const files = audit.filter((e) => e.action === 'files');
      assert.ok(
        files.some((e) => e.detail.op === 'get' && e.detail.bytes === report.length && e.detail.sha256 === sha(report)),
      );
      assert.ok(files.some((e) => e.detail.op === 'put' && e.detail.bytes === 200 * 1024));
      // The relayed sessions themselves, where they ran (the member), as every session kind: kind, bytes.
      const db = new Database(join(dir.path, 'member', 'switchboard.db'), { readonly: true, fileMustExist: true });
      const closed = (
        db.prepare("SELECT detail FROM audit WHERE action = 'session.closed'").all() as { detail: string }[]
      ).map(
        (r) => JSON.parse(r.detail) as { target: { kind: string }; bytesFromClient: number; bytesToClient: number },
      );
      db.close();
      assert.ok(closed.some((d) => d.target.kind === 'files' && d.bytesFromClient > report.length));
      assert.ok(closed.some((d) => d.target.kind === 'files' && d.bytesToClient > 200 * 1024));
    });
  },
);
