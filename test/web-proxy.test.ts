/**
 * A client's web page in a new tab, through the server's web proxy, in real Chromium: a real small
 * HTTP app (its own process, on the client's side) that redirects to its own absolute URL, sets a
 * cookie and echoes on a WebSocket. The page runs on an origin of its own: the app never receives
 * the console's cookie and the page cannot read it; the link works only in the browser that entered
 * it, counts as an active `web` session, is audited, and stops working when the operator logs out.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { addOperator, login, request, type LoggedIn } from './helpers/api.js';
import {
  addKey,
  Proc,
  ROOT,
  startClient,
  startServer,
  tempDir,
  waitFor,
  type RunningServer,
} from './helpers/harness.js';
import { freePort, stopAll } from './helpers/sb.js';
import { WebLinks } from '../src/server/webLinks.js';
import { appCookies, fitLocation, fitSetCookie } from '../src/server/webProxy.js';

const CHROMIUM = '/usr/bin/chromium';
const dir = tempDir('sb-webproxy-');
const procs: Proc[] = [];
const ADMIN = { operator: 'admin', password: 'admin-password-1' };

/** The app on the client's side: its own process, logging each request's Host and Cookie as JSON. */
const APP = `
const http = require('node:http');
const { WebSocketServer } = require(${JSON.stringify(join(ROOT, 'node_modules', 'ws'))});
const port = Number(process.argv[2]);
const page = \`<!doctype html><title>app</title><p id="cookies"></p><p id="echo"></p><p id="ws">connecting</p>
<script>
document.getElementById('cookies').textContent = 'cookies=' + document.cookie;
const ws = new WebSocket(location.origin.replace(/^http/, 'ws') + '/ws');
ws.onopen = () => { document.getElementById('ws').textContent = 'open'; ws.send('ping'); };
ws.onmessage = (m) => { document.getElementById('echo').textContent = m.data; };
ws.onclose = () => { document.getElementById('ws').textContent = 'closed'; };
</script>\`;
const server = http.createServer((req, res) => {
  console.log(JSON.stringify({ path: req.url, host: req.headers.host, cookie: req.headers.cookie ?? '' }));
  const cookie = req.headers.cookie ?? '';
  if (req.url === '/login') {
    res.writeHead(302, { location: '/', 'set-cookie': 'app=1; Path=/; Domain=127.0.0.1' });
    return res.end();
  }
  if (!/(^|; )app=1/.test(cookie)) {
    res.writeHead(302, { location: 'http://127.0.0.1:' + port + '/login' });
    return res.end();
  }
  res.writeHead(200, { 'content-type': 'text/html' });
  res.end(page);
});
const wss = new WebSocketServer({ server, path: '/ws' });
wss.on('connection', (ws, req) => {
  console.log(JSON.stringify({ path: '/ws', host: req.headers.host, cookie: req.headers.cookie ?? '', origin: req.headers.origin }));
  ws.on('message', (m) => ws.send('echo:' + m));
});
server.listen(port, '127.0.0.1', () => console.log(JSON.stringify({ listening: port })));
`;

test('the proxy fits the app to its origin: cookies, Set-Cookie and Location', () => {
  assert.equal(appCookies('a=1; sb_session=tok; __sb_web_link=sec; b=2'), 'a=1; b=2');
  assert.equal(appCookies('sb_session=tok'), undefined);
  assert.equal(fitSetCookie('app=1; Path=/; Domain=127.0.0.1; HttpOnly'), 'app=1; Path=/; HttpOnly');
  assert.equal(fitSetCookie('__sb_web_link=x; Path=/'), undefined);
  const origin = 'http://abc.localhost:9000';
  assert.equal(fitLocation('http://127.0.0.1:8080/login?x=1', '127.0.0.1:8080', origin), `${origin}/login?x=1`);
  assert.equal(fitLocation('http://localhost:8080/a', '127.0.0.1:8080', origin), `${origin}/a`);
  assert.equal(fitLocation('/relative', '127.0.0.1:8080', origin), '/relative');
  assert.equal(fitLocation('https://elsewhere.example/', '127.0.0.1:8080', origin), 'https://elsewhere.example/');
});

test('web links: entry once and in time, the cookie alone after, bounded per operator, gone with the session', () => {
  let now = 1000;
  let alive = true;
  const links = new WebLinks({ perOperator: 2, total: 3, entryTtlMs: 60_000 }, () => now);
  const target = (operator: string) => ({
    operator,
    keys: undefined,
    clientId: 'c',
    clientName: 'n',
    port: 80,
    alive: () => alive,
  });
  const a = links.create(target('ops'));
  const entry = a.entrySecret!;
  assert.equal(links.enter(a, 'wrong'), undefined);
  const cookie = links.enter(a, entry);
  assert.equal(cookie, a.cookieSecret);
  assert.equal(links.enter(a, entry), undefined, 'the entry works once');
  assert.ok(links.admits(a, cookie) && !links.admits(a, 'x') && !links.admits(a, undefined));
  const late = links.create(target('ops'));
  now += 60_001;
  assert.equal(links.enter(late, late.entrySecret!), undefined, 'too late');
  links.create(target('ops')); // a third for ops pushes out its oldest
  assert.equal(links.find(a.label), undefined);
  assert.equal(links.size, 2);
  links.create(target('other'));
  assert.throws(() => links.create(target('third')), /at most 3/);
  alive = false;
  assert.equal(links.find(late.label), undefined, 'the session ended');
  assert.equal(links.sweep().length, 2);
  assert.equal(links.size, 0);
});

describe('a client web page through the server', { skip: !existsSync(CHROMIUM) && `no ${CHROMIUM}` }, () => {
  let server: RunningServer;
  let proxyAddress: string;
  let app: ChildProcess;
  const appLog: { path: string; host: string; cookie: string; origin?: string }[] = [];
  let appPort: number;
  let clientId: string;
  let browser: Browser;
  let context: BrowserContext;
  let consolePage: Page;
  let popup: Page;
  let adminApi: LoggedIn;
  let linkUrl: string;

  before(async () => {
    appPort = await freePort();
    const script = join(dir.path, 'app.cjs');
    writeFileSync(script, APP);
    app = spawn(process.execPath, [script, String(appPort)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let buffered = '';
    app.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const line = JSON.parse(buffered.slice(0, nl)) as (typeof appLog)[number] & { listening?: number };
        buffered = buffered.slice(nl + 1);
        if (!line.listening) appLog.push(line);
        else appLog.push({ path: '(listening)', host: '', cookie: '' });
      }
    });
    await waitFor(() => appLog.some((l) => l.path === '(listening)'), 'the app to listen');
    server = await startServer(join(dir.path, 'server'), ['--web-proxy-listen', '127.0.0.1:0']);
    procs.push(server.proc);
    proxyAddress = String(server.proc.lines.find((l) => l.msg === 'listening')!.webProxy);
    const key = await addKey(server.data, 'default');
    await addOperator(server.data, ADMIN.operator, ADMIN.password, 'admin');
    procs.push(
      await startClient([
        '--gateway',
        server.address,
        '--key',
        key,
        '--name',
        'printer',
        '--state',
        join(dir.path, 'printer'),
        '--allow-forward',
        String(appPort),
      ]),
    );
    adminApi = await login(server.address, ADMIN.operator, ADMIN.password);
    clientId = (await request(server.address, 'GET', 'clients', undefined, { token: adminApi.token })).body[0].id;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu'],
    });
    context = await browser.newContext();
    consolePage = await context.newPage();
    await consolePage.goto(`http://${server.address}/console/`);
    await consolePage.fill('input[name=operator]', ADMIN.operator);
    await consolePage.fill('input[name=password]', ADMIN.password);
    await consolePage.click('form.login button[type=submit]');
    await consolePage.locator('#clients tr[data-id]').first().waitFor();
  });

  after(async () => {
    await browser?.close();
    app?.kill();
    await stopAll(procs);
    dir.remove();
  });

  test('the console opens the page in a new tab: redirects, cookies and a WebSocket work', async () => {
    await consolePage
      .locator('#clients tr[data-id]', { hasText: 'printer' })
      .getByRole('button', { name: 'Connect' })
      .click();
    await consolePage.locator('#web-page-link').click();
    await consolePage.locator('#web-form').waitFor();
    assert.equal(new URL(consolePage.url()).hash, `#/web/${clientId}`);
    await consolePage.getByRole('button', { name: 'Make a link' }).click();
    const open = consolePage.locator('#open-web');
    await open.waitFor();
    linkUrl = (await open.getAttribute('href'))!;
    const [tab] = await Promise.all([context.waitForEvent('page'), open.click()]);
    popup = tab;
    await popup.locator('#echo', { hasText: 'echo:ping' }).waitFor({ timeout: 30_000 });
    const url = new URL(popup.url());
    assert.match(url.host, new RegExp(`^[0-9a-f]{32}\\.localhost:${proxyAddress.split(':')[1]}$`));
    assert.equal(url.pathname, '/', 'the absolute redirect to the app came back to the link origin');
    // The page sees its own cookie only: not the console's, not the link's (HttpOnly).
    assert.equal(await popup.locator('#cookies').textContent(), 'cookies=app=1');
    assert.equal(await popup.evaluate(() => document.cookie), 'app=1');
    // The app saw its own Host and Origin, and never a cookie of Switchboard's.
    const seen = appLog.filter((l) => l.path !== '(listening)');
    assert.ok(seen.some((l) => l.path === '/login') && seen.some((l) => l.path === '/ws'), JSON.stringify(seen));
    for (const l of seen) {
      assert.equal(l.host, `127.0.0.1:${appPort}`);
      assert.doesNotMatch(l.cookie, /sb_session|__sb_web_link/);
    }
    assert.equal(seen.find((l) => l.path === '/ws')!.origin, `http://127.0.0.1:${appPort}`);
    // The open WebSocket is an active session of the server.
    const servers = await request(server.address, 'GET', 'servers', undefined, { token: adminApi.token });
    assert.ok(servers.body[0].sessions >= 1, JSON.stringify(servers.body));
  });

  test('the link works only in the browser that entered it, and its entry URL only once', async () => {
    const other = await browser.newContext();
    try {
      const stranger = await other.newPage();
      const again = await stranger.goto(linkUrl);
      assert.equal(again?.status(), 403);
      assert.match(await stranger.content(), /used already or is too old/);
      const bare = await stranger.goto(new URL('/', linkUrl).href);
      assert.equal(bare?.status(), 403);
      assert.match(await stranger.content(), /has not entered this web link/);
    } finally {
      await other.close();
    }
    const refused = await request(
      server.address,
      'POST',
      'web-links',
      { client: clientId, port: appPort + 1 },
      { token: adminApi.token },
    );
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error.code, 'SB_ERR_POLICY_REFUSED');
  });

  test('logging out of the console ends the link: the page and its WebSocket stop', async () => {
    await consolePage.locator('#logout').click();
    await consolePage.locator('form.login').waitFor();
    await popup.locator('#ws', { hasText: 'closed' }).waitFor({ timeout: 30_000 });
    const reload = await popup.reload();
    assert.equal(reload?.status(), 404);
    assert.match(await popup.content(), /its console session ended/);
    const audit = (await request(server.address, 'GET', 'audit?limit=100', undefined, { token: adminApi.token }))
      .body as {
      actor: string;
      action: string;
      detail: { kind?: string; bytesFromClient?: number; durationMs?: number; port?: number };
    }[];
    assert.ok(audit.some((r) => r.action === 'web.link' && r.actor === 'admin' && r.detail.port === appPort));
    const web = audit.filter((r) => r.action === 'session.closed' && r.detail.kind === 'web');
    assert.ok(web.length >= 2, JSON.stringify(audit.slice(0, 5)));
    assert.ok(web.every((r) => r.actor === 'admin' && typeof r.detail.durationMs === 'number'));
    assert.ok(web.some((r) => (r.detail.bytesFromClient ?? 0) > 0));
    // The redirects and the page went over pooled sessions: fewer sessions than requests to the app.
    const requests = appLog.filter((l) => l.path !== '(listening)').length;
    assert.ok(web.length < requests, `${web.length} sessions for ${requests} requests`);
  });
});
