/**
 * Issue 19: the console's Terminal page in real Chromium (Debian's, driven by playwright-core),
 * against a real server and a client run with --allow-shell: xterm.js and its fit addon served by
 * the server itself, the session bridged over the page's own WebSocket. `echo $((6*7))` prints 42;
 * a page resized to 100 columns makes `tput cols` print 100; Ctrl-C stops `sleep 100`; the shell's
 * exit status is shown; no CSP violation or page error on the way.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { addOperator, login, request } from './helpers/api.js';
import { startTrackedServer } from './helpers/external.js';
import { addKey, Proc, tempDir, waitFor, type RunningServer } from './helpers/harness.js';
import { CHROMIUM, launchChromium, logInToConsole, watchedPage } from './helpers/consoleBrowser.js';
import { stopAll } from './helpers/sb.js';

const dir = tempDir('sb-console-terminal-');
const procs: Proc[] = [];
let server: RunningServer;
let browser: Browser;
let page: Page;
let clientId: string;
const pageErrors: string[] = [];

/** The terminal's text, one string per row, as xterm.js's DOM renderer shows it. */
async function rows(p: Page): Promise<string[]> {
  const text = await p.locator('#terminal .xterm-rows').innerText();
  return text.split('\n').map((l) => l.replace(/\u00a0/g, ' ').trimEnd());
}

async function waitForRow(p: Page, match: RegExp): Promise<void> {
  let last: string[] = [];
  try {
    await waitFor(
      async () => {
        last = await rows(p);
        return last.some((l) => match.test(l));
      },
      `a row matching ${String(match)}`,
      15_000,
      100,
    );
  } catch (err) {
    const status = await p.locator('#terminal-status').innerText();
    throw new Error(
      `${(err as Error).message}; status ${status}; errors ${pageErrors.join(' | ')}; the terminal shows:\n${last.join('\n')}`,
      {
        cause: err,
      },
    );
  }
}

async function typeLine(p: Page, text: string): Promise<void> {
  await p.keyboard.type(text);
  await p.keyboard.press('Enter');
}

async function terminalSize(p: Page): Promise<number> {
  const size = (await p.locator('#terminal').getAttribute('data-size')) ?? '0x0';
  return Number(size.split('x')[0]);
}

/** Finds the window width that gives the terminal exactly `cols` columns (cols grow with width). */
async function resizeToColumns(p: Page, cols: number): Promise<void> {
  let [lo, hi] = [300, 2400];
  for (let i = 0; i < 20; i++) {
    const width = Math.floor((lo + hi) / 2);
    const before = await terminalSize(p);
    await p.setViewportSize({ width, height: 700 });
    // The page refits on its ResizeObserver; wait for a new size or a moment of none.
    await waitFor(async () => (await terminalSize(p)) !== before, 'a refit', 1000, 50).catch(() => undefined);
    const now = await terminalSize(p);
    if (now === cols) return;
    if (now < cols) lo = width + 1;
    else hi = width - 1;
  }
  throw new Error(`no window width gives ${cols} columns`);
}

describe(
  'the console terminal',
  { skip: !existsSync(CHROMIUM) && `no ${CHROMIUM}: install Debian's chromium (.ci/run does)` },
  () => {
    before(async () => {
      server = await startTrackedServer(procs, join(dir.path, 'data'));
      const key = await addKey(server.data, 'default');
      await addOperator(server.data, 'admin', 'admin-password', 'admin');
      const shellClient = new Proc(
        [
          'client',
          '--gateway',
          server.address,
          '--key',
          key,
          '--name',
          'term-box',
          '--state',
          join(dir.path, 'client'),
          '--allow-shell',
        ],
        { SHELL: '/bin/sh' },
      );
      procs.push(shellClient);
      await shellClient.waitForLine((l) => l.status === 'connected', 'the client connected');
      const { token } = await login(server.address, 'admin', 'admin-password');
      clientId = (await request(server.address, 'GET', 'clients', undefined, { token })).body[0].id;
      browser = await launchChromium();
      page = await watchedPage(browser, pageErrors, { viewport: { width: 1100, height: 700 } });
      await logInToConsole(page, server.address, 'admin', 'admin-password');
    });

    after(async () => {
      await browser?.close();
      await stopAll(procs);
      dir.remove();
    });

    test('a terminal in the page: 42, 100 columns after a resize, Ctrl-C, the exit status', async () => {
      // From the client's Connect dialog, as an operator would.
      await page
        .locator('#clients tr[data-id]', { hasText: 'term-box' })
        .getByRole('button', { name: 'Connect' })
        .click();
      await page.locator('dialog #open-terminal').click();
      assert.equal(new URL(page.url()).hash, `#/terminal/${encodeURIComponent(clientId)}`);
      // The dialog closes as the page follows the link, which may be a moment after the URL changed.
      await page.locator('dialog').waitFor({ state: 'detached', timeout: 10_000 });
      await page.locator('#terminal-status', { hasText: 'Connected.' }).waitFor();
      await page.locator('#terminal').click();

      await typeLine(page, 'echo $((6*7))');
      // Typed before the shell's first prompt, the output follows that prompt on its line: "# 42".
      await waitForRow(page, /(^|# |\$ )42$/);
      // True colour (a style attribute in xterm.js) also draws under the console's strict CSP.
      await typeLine(page, "printf '\\033[38;2;255;0;0mRED\\033[0m\\n'");
      await waitForRow(page, /^RED$/);
      const red = await page
        .locator('#terminal .xterm-rows span', { hasText: /^RED$/ })
        .evaluate((el) => getComputedStyle(el).color);
      assert.equal(red, 'rgb(255, 0, 0)');

      await resizeToColumns(page, 100);
      await typeLine(page, 'echo "C$(tput cols)D"');
      await waitForRow(page, /^C100D$/);

      await typeLine(page, 'sleep 100');
      await waitForRow(page, /sleep 100$/);
      await page.keyboard.press('Control+C');
      await typeLine(page, 'echo "E$((2+3))F"');
      await waitForRow(page, /(^|[#$] )E5F$/);

      if (process.env.SB_SCREENSHOTS_DIR)
        await page.screenshot({ path: join(process.env.SB_SCREENSHOTS_DIR, 'console-terminal.png') });
      await typeLine(page, 'exit 3');
      await page.locator('#terminal-status', { hasText: 'The shell exited with status 3.' }).waitFor();
      assert.deepEqual(pageErrors, [], 'no CSP violation, no page error');
    });

    test('the page says why a terminal cannot open, and leaving it ends the terminal', async () => {
      await page.goto(`http://${server.address}/console/#/terminal/no-such-client`);
      await page.locator('#terminal-status', { hasText: 'SB_ERR_UNKNOWN_CLIENT' }).waitFor();
      // Leaving the page ends its session and disposes of the terminal.
      await page.goto(`http://${server.address}/console/#/clients`);
      await page.locator('#clients').waitFor();
      assert.equal(await page.locator('#terminal').count(), 0);
    });
  },
);
