/**
 * Issue 19: the console's Remote desktop page in real Chromium against a real desktop on the
 * client's side: Debian's Xvfb with a full-screen window of a known colour (xmessage, red), shown
 * by x11vnc on a port only the client's machine can reach (-localhost), which the client allows
 * with --allow-forward. The page draws the remote screen with noVNC over the bridged session (the
 * canvas holds the red), and a key typed in the page reaches the X display (xev, watching the root
 * window, prints it).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { addOperator, freePort, login, request } from './helpers/api.js';
import { findTool, startTrackedClient, startTrackedServer } from './helpers/external.js';
import { addKey, tempDir, waitFor, type Proc, type RunningServer } from './helpers/harness.js';
import { CHROMIUM, launchChromium, logInToConsole, watchedPage } from './helpers/consoleBrowser.js';
import { connectTcp, stopAll } from './helpers/sb.js';

const WIDTH = 320;
const HEIGHT = 240;
const dir = tempDir('sb-console-desktop-');
const procs: Proc[] = [];
const x: ChildProcess[] = [];
let server: RunningServer;
let browser: Browser;
let page: Page;
let clientId: string;
let vncPort: number;
let xevOutput = '';
const pageErrors: string[] = [];

/** A display number nobody uses on this machine. */
function freeDisplay(): number {
  for (let n = 40 + (process.pid % 200); ; n++) if (!existsSync(`/tmp/.X11-unix/X${n}`)) return n;
}

function run(file: string, args: string[]): ChildProcess {
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  x.push(child);
  return child;
}

/** The colour of the page's remote screen at (px, py), as noVNC drew it on its canvas. */
function pixel(p: Page, px: number, py: number): Promise<number[]> {
  return p
    .locator('#desktop canvas')
    .evaluate(
      (canvas: HTMLCanvasElement, [cx, cy]) => [...canvas.getContext('2d')!.getImageData(cx!, cy!, 1, 1).data],
      [px, py],
    );
}

describe(
  'the console remote desktop',
  { skip: !existsSync(CHROMIUM) && `no ${CHROMIUM}: install Debian's chromium (.ci/run does)` },
  () => {
    before(async () => {
      const tools = {
        xvfb: findTool('Xvfb', 'install it with `apt-get install xvfb` (.ci/run does)'),
        x11vnc: findTool('x11vnc', 'install it with `apt-get install x11vnc` (.ci/run does)'),
        xev: findTool('xev', 'install it with `apt-get install x11-utils` (.ci/run does)'),
        stdbuf: findTool('stdbuf', 'part of coreutils'),
      };
      const display = `:${freeDisplay()}`;
      run(tools.xvfb, [display, '-screen', '0', `${WIDTH}x${HEIGHT}x24`, '-nolisten', 'tcp']);
      await waitFor(() => existsSync(`/tmp/.X11-unix/X${display.slice(1)}`), 'Xvfb to listen');
      // Keys typed in the page must reach the display: xev prints those that reach the root window.
      // (Line-buffered: into a pipe, its output would otherwise wait for a full buffer.)
      const xev = run(tools.stdbuf, ['-oL', tools.xev, '-display', display, '-root', '-event', 'keyboard']);
      xev.stdout!.on('data', (d: Buffer) => (xevOutput += d.toString()));
      vncPort = await freePort();
      // Only the client's machine reaches it (-localhost); no password on a test display. A known
      // colour on the screen: x11vnc paints the root window solid red while a viewer is connected.
      run(tools.x11vnc, [
        '-display',
        display,
        '-rfbport',
        String(vncPort),
        '-localhost',
        '-nopw',
        '-forever',
        '-shared',
        '-quiet',
        '-solid',
        '#ff0000',
      ]);
      await waitFor(
        () =>
          connectTcp(vncPort).then(
            (s) => (s.destroy(), true),
            () => false,
          ),
        'x11vnc to listen',
      );

      server = await startTrackedServer(procs, join(dir.path, 'data'));
      const key = await addKey(server.data, 'default');
      await addOperator(server.data, 'admin', 'admin-password', 'admin');
      await startTrackedClient(procs, [
        '--gateway',
        server.address,
        '--key',
        key,
        '--name',
        'desk-box',
        '--state',
        join(dir.path, 'client'),
        '--allow-forward',
        String(vncPort),
      ]);
      const { token } = await login(server.address, 'admin', 'admin-password');
      clientId = (await request(server.address, 'GET', 'clients', undefined, { token })).body[0].id;
      browser = await launchChromium();
      page = await watchedPage(browser, pageErrors, { viewport: { width: 900, height: 700 } });
      await logInToConsole(page, server.address, 'admin', 'admin-password');
    });

    after(async () => {
      await browser?.close();
      await stopAll(procs);
      for (const child of x.reverse()) child.kill('SIGTERM');
      dir.remove();
    });

    test('the page shows the remote screen, and a key typed in it reaches the X display', async () => {
      await page.goto(`http://${server.address}/console/#/desktop/${encodeURIComponent(clientId)}?port=${vncPort}`);
      await page.locator('#desktop[data-connected=true]').waitFor();
      const canvas = page.locator('#desktop canvas');
      assert.deepEqual(
        await canvas.evaluate((c: HTMLCanvasElement) => [c.width, c.height]),
        [WIDTH, HEIGHT],
        'the remote screen, at its size',
      );
      // The red window, drawn once the first framebuffer update has come through the relay.
      await waitFor(async () => {
        const [r, g, b] = await pixel(page, WIDTH / 2, HEIGHT / 4);
        return r === 255 && g === 0 && b === 0;
      }, 'the red window on the canvas');
      assert.deepEqual((await pixel(page, 10, 10)).slice(0, 3), [255, 0, 0]);

      await canvas.click({ position: { x: WIDTH / 2, y: HEIGHT / 4 } });
      await page.keyboard.press('q');
      await waitFor(
        () => /KeyPress event[\s\S]*keysym 0x71, q\)/.test(xevOutput),
        `xev to see q; it printed: ${xevOutput}`,
      );
      if (process.env.SB_SCREENSHOTS_DIR)
        await page.screenshot({ path: join(process.env.SB_SCREENSHOTS_DIR, 'console-desktop.png') });
      assert.deepEqual(pageErrors, [], 'no CSP violation, no page error');
    });

    test('a VNC port the client does not allow is refused, and the page says why', async () => {
      await page.goto(`http://${server.address}/console/#/desktop/${encodeURIComponent(clientId)}?port=1`);
      await page
        .locator('#desktop-status', { hasText: "port 1 is not in this client's --allow-forward list" })
        .waitFor();
    });
  },
);
