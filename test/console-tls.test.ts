/**
 * Issue 18: the console served over TLS. Its pages carry HSTS (plain answers do not), and the
 * connect dialog, in a real Chromium, prints a command that dials in TLS, trusting the server by
 * its key pin: run as copied, it connects, and it never speaks plain HTTP.
 */
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { addOperator } from './helpers/api.js';
import { addKey, Proc, startClient, startServer, tempDir, type RunningServer } from './helpers/harness.js';

const CHROMIUM = '/usr/bin/chromium';
const dir = tempDir('sb-console-tls-');
const procs: Proc[] = [];
let server: RunningServer;
let key: string;
let browser: Browser;

/** The headers of a GET, over TLS (not verified: only the headers matter) or plain. */
function headersOf(url: string): Promise<http.IncomingHttpHeaders> {
  return new Promise((resolve, reject) => {
    const get = url.startsWith('https:') ? https.get : http.get;
    get(url, { rejectUnauthorized: false, agent: false }, (res) => {
      res.resume();
      resolve(res.headers);
    }).on('error', reject);
  });
}

describe('the console over TLS', { skip: !existsSync(CHROMIUM) && `no ${CHROMIUM}` }, () => {
  before(async () => {
    server = await startServer(join(dir.path, 'server'), ['--tls-self-signed']);
    procs.push(server.proc);
    key = await addKey(server.data, 'default');
    await addOperator(server.data, 'admin', 'admin-password', 'admin');
    procs.push(
      await startClient([
        '--gateway',
        server.address,
        '--insecure',
        '--key',
        key,
        '--name',
        'box-1',
        '--state',
        join(dir.path, 'client'),
        '--allow-forward',
        '22',
      ]),
    );
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu'],
    });
  });

  after(async () => {
    await browser?.close();
    await Promise.all(procs.map((p) => p.stop()));
    dir.remove();
  });

  test('HSTS over TLS only', async () => {
    const secure = await headersOf(`https://${server.address}/console/`);
    assert.equal(secure['strict-transport-security'], 'max-age=31536000');
    const plain = await headersOf(`http://${server.address}/console/`);
    assert.equal(plain['strict-transport-security'], undefined);
  });

  test('the connect dialog prints an https:// command pinned by the key, and it works as copied', async () => {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    await page.goto(`https://${server.address}/console/`);
    await page.fill('input[name=operator]', 'admin');
    await page.fill('input[name=password]', 'admin-password');
    await page.click('form.login button[type=submit]');
    await page.locator('#clients tr[data-id]', { hasText: 'box-1' }).getByRole('button', { name: 'Connect' }).click();
    const command = (await page.locator('dialog[open] pre.command').first().textContent()) ?? '';
    await context.close();
    const pin = String(server.proc.lines.find((l) => l.msg === 'listening')?.pin);
    const quoted = (text: string) => new RegExp(`'?${text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}'?`);
    assert.match(command, new RegExp(`--gateway ${quoted(`https://${server.address}`).source} `));
    assert.match(command, new RegExp(`--tls-fingerprint ${quoted(pin).source} `));

    // Run it as an operator would paste it, with the key file and a free local port filled in.
    const keyFile = join(dir.path, 'default.key');
    writeFileSync(keyFile, key);
    const argv = command
      .replace('KEYFILE', keyFile)
      .replace(/127\.0\.0\.1:\d+:22$/, '127.0.0.1:0:22')
      .split(' ')
      .slice(1)
      .map((word) => word.replace(/^'(.*)'$/, '$1'));
    const forward = new Proc(argv, { SB_PASSWORD: 'admin-password' });
    procs.push(forward);
    await forward.waitForMsg('forwarding', 30_000);
    const logins = server.proc.lines.filter((l) => l.msg === 'control logged in');
    assert.equal(logins.length, 1);
  });
});
