/**
 * Issue 2 item 9: clients and controls reach the server through an HTTP CONNECT proxy (`--proxy`),
 * tested against a real tinyproxy: control channels, sessions (their data connections go through
 * the proxy too), TLS inside the tunnel, proxy authentication, and a proxy that refuses.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  exchange,
  freePort,
  oneErrorLine,
  sha256,
  startEchoServer,
  startForwardProc,
  startTrackedClient,
  startTrackedServer,
} from './helpers/external.js';
import { addKey, runCli, tempDir, waitFor, type Proc } from './helpers/harness.js';
import { startTinyproxy, type Tinyproxy } from './helpers/tinyproxy.js';
import { randomBytes } from 'node:crypto';

const dir = tempDir('sb-proxy-');
const procs: Proc[] = [];
let server: { proc: Proc; data: string; address: string };
let key: string;
let fingerprint: string;
let proxy: Tinyproxy | undefined;
let authProxy: Tinyproxy | undefined;
let echo: Awaited<ReturnType<typeof startEchoServer>>;
const AUTH = { user: 'sbproxy', password: 'pr0xy-secret' };

before(async () => {
  echo = await startEchoServer();
  // A TLS server (one port serves plain and TLS, so plain clients work too).
  server = await startTrackedServer(procs, join(dir.path, 'data'), ['--tls-self-signed']);
  fingerprint = String(server.proc.lines.find((l) => l.msg === 'listening')?.fingerprint);
  key = await addKey(server.data, 'default');
  const serverPort = Number(server.address.split(':')[1]);
  // CONNECT is allowed to the server's port only: any other port is refused by the proxy.
  proxy = await startTinyproxy(dir.path, { connectPorts: [serverPort] });
  authProxy = await startTinyproxy(dir.path, { connectPorts: [serverPort], basicAuth: AUTH });
});

after(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await proxy?.stop();
  await authProxy?.stop();
  await echo?.close();
  dir.remove();
});

function connectsToServer(p: Tinyproxy): number {
  return p.connects().filter((target) => target === server.address).length;
}

function control(...args: string[]) {
  return runCli(['control', '--gateway', server.address, '--key', key, ...args]);
}

test('a client and a control reach the server through tinyproxy, and a forward session runs through it', async () => {
  const via = ['--proxy', proxy!.url];
  const before = connectsToServer(proxy!);
  await startTrackedClient(procs, [
    '--gateway',
    server.address,
    '--key',
    key,
    '--name',
    'behind-proxy',
    '--state',
    join(dir.path, 'c-plain'),
    '--allow-forward',
    String(echo.port),
    '--allow-exec',
    ...via,
  ]);
  // The client's control channel went through the proxy (tinyproxy logged a CONNECT to the server).
  await waitFor(() => connectsToServer(proxy!) > before, "tinyproxy to log the client's CONNECT");

  const afterClient = connectsToServer(proxy!);
  const browse = await control(...via, 'browse', '--json');
  assert.equal(browse.code, 0, browse.stderr);
  const listed = JSON.parse(browse.stdout) as { name: string }[];
  assert.deepEqual(
    listed.map((c) => c.name),
    ['behind-proxy'],
  );
  await waitFor(() => connectsToServer(proxy!) > afterClient, "tinyproxy to log the control's CONNECT");

  const forward = await startForwardProc(
    [...via, '--gateway', server.address, '--key', key],
    'behind-proxy',
    echo.port,
  );
  procs.push(forward.proc);
  const beforeSession = connectsToServer(proxy!);
  const payload = randomBytes(2 * 1024 * 1024);
  const back = await exchange(forward.port, payload);
  assert.equal(sha256(back), sha256(payload));
  // Both ends of the session dialled their data connections through the proxy: the control's and the client's.
  await waitFor(
    () => connectsToServer(proxy!) >= beforeSession + 2,
    'tinyproxy to log both data connections of the session',
  );
  await forward.proc.stop();
  assert.equal(connectsToServer(authProxy!), 0, 'nothing went through the other proxy');
});

test('exec to a client behind the proxy: stdin, its end, and the output after it all arrive', async () => {
  // The command's output comes after its stdin ended: the end of stdin must not close the tunnel
  // (tinyproxy turns a half-close into a close), from a direct control or from one behind the proxy.
  const script =
    'let n = 0; process.stdin.on("data", (d) => (n += d.length)); process.stdin.on("end", () => setTimeout(() => { process.stdout.write("read " + n); process.exit(5); }, 200));';
  const input = randomBytes(300 * 1024);
  for (const via of [[], ['--proxy', proxy!.url]]) {
    const result = await runCli(
      [
        'control',
        '--gateway',
        server.address,
        '--key',
        key,
        ...via,
        'exec',
        'behind-proxy',
        '--',
        process.execPath,
        '-e',
        script,
      ],
      { input },
    );
    assert.equal(result.stderr, '', `exec ${via.join(' ') || 'direct'}`);
    assert.equal(result.stdout, `read ${input.length}`);
    assert.equal(result.code, 5);
  }
  const empty = await runCli([
    'control',
    '--gateway',
    server.address,
    '--key',
    key,
    'exec',
    'behind-proxy',
    '--',
    process.execPath,
    '-e',
    script,
  ]);
  assert.equal(empty.stdout, 'read 0', empty.stderr);
});

test('TLS through the proxy: a pinned client and control, with a session', async () => {
  const via = ['--proxy', proxy!.url, '--tls-fingerprint', fingerprint];
  const before = connectsToServer(proxy!);
  await startTrackedClient(procs, [
    '--gateway',
    server.address,
    '--key',
    key,
    '--name',
    'tls-behind-proxy',
    '--state',
    join(dir.path, 'c-tls'),
    '--allow-forward',
    String(echo.port),
    '--allow-exec',
    ...via,
  ]);
  assert.ok(connectsToServer(proxy!) > before);

  const exec = await control(
    ...via,
    'exec',
    'tls-behind-proxy',
    '--',
    process.execPath,
    '-e',
    'process.stdout.write("tunnelled")',
  );
  assert.equal(exec.code, 0, exec.stderr);
  assert.equal(exec.stdout, 'tunnelled');

  const forward = await startForwardProc(
    [...via, '--gateway', server.address, '--key', key],
    'tls-behind-proxy',
    echo.port,
  );
  procs.push(forward.proc);
  assert.equal((await exchange(forward.port, Buffer.from('tls in a tunnel'))).toString(), 'tls in a tunnel');
  await forward.proc.stop();

  // A wrong pin through the proxy is still refused: the proxy does not weaken the check.
  const wrong = fingerprint.replace(/^../, fingerprint.startsWith('00') ? '11' : '00');
  assert.match(
    oneErrorLine(await control('--proxy', proxy!.url, '--tls-fingerprint', wrong, 'browse')),
    /does not match/,
  );

  // With require-tls on, plain through the proxy is refused while TLS through it still works.
  assert.equal((await runCli(['config', '--data', server.data, 'set', 'require-tls', 'true'])).code, 0);
  try {
    await waitFor(
      async () => (await control('--proxy', proxy!.url, 'browse')).code !== 0,
      'plain connections to be refused',
    );
    assert.match(oneErrorLine(await control('--proxy', proxy!.url, 'browse')), /requires TLS/);
    assert.equal((await control(...via, 'browse')).code, 0);
  } finally {
    await runCli(['config', '--data', server.data, 'set', 'require-tls', 'false']);
  }
});

test('a proxy that requires a login: refused without credentials, works with them in the URL', async () => {
  const refused = oneErrorLine(await control('--proxy', authProxy!.url, 'browse'));
  // tinyproxy answers 401 where RFC 7235 says 407; either is a refusal the user can read.
  assert.match(refused, /proxy 127\.0\.0\.1:\d+ refused CONNECT to .*: 40[17]/);

  const withLogin = `http://${AUTH.user}:${encodeURIComponent(AUTH.password)}@127.0.0.1:${authProxy!.port}`;
  const ok = await control('--proxy', withLogin, 'browse', '--json');
  assert.equal(ok.code, 0, ok.stderr);
  const wrongLogin = oneErrorLine(
    await control('--proxy', `http://${AUTH.user}:wrong@127.0.0.1:${authProxy!.port}`, 'browse'),
  );
  assert.match(wrongLogin, /refused CONNECT .*: 40[17]/);

  await startTrackedClient(procs, [
    '--gateway',
    server.address,
    '--key',
    key,
    '--name',
    'auth-proxy-client',
    '--state',
    join(dir.path, 'c-auth'),
    '--proxy',
    withLogin,
  ]);
  assert.ok(connectsToServer(authProxy!) >= 2);
});

test('a proxy that refuses, or is not there, gives one clear line; a client says why it waits', async () => {
  // tinyproxy allows CONNECT only to the server's port: another port is refused with 403.
  const otherPort = await freePort();
  const forbidden = await runCli([
    'control',
    '--gateway',
    `127.0.0.1:${otherPort}`,
    '--key',
    key,
    '--proxy',
    proxy!.url,
    'browse',
  ]);
  const line = oneErrorLine(forbidden);
  assert.match(
    line,
    new RegExp(`proxy 127\\.0\\.0\\.1:${proxy!.port} refused CONNECT to 127\\.0\\.0\\.1:${otherPort}: 403`),
  );
  assert.ok(proxy!.log().includes(`Refused CONNECT method on port ${otherPort}`));

  // Nothing listens where the proxy should be.
  const nowhere = await freePort();
  const absent = oneErrorLine(await control('--proxy', `http://127.0.0.1:${nowhere}`, 'browse'));
  assert.match(absent, new RegExp(`proxy 127\\.0\\.0\\.1:${nowhere}: .*ECONNREFUSED`));

  // A proxy URL that is not http:// is refused before anything is dialled.
  assert.match(
    oneErrorLine(await control('--proxy', `socks5://127.0.0.1:${proxy!.port}`, 'browse')),
    /unsupported proxy scheme/,
  );

  const waiter = await startTrackedClient(
    procs,
    [
      '--gateway',
      `127.0.0.1:${otherPort}`,
      '--key',
      key,
      '--name',
      'refused-by-proxy',
      '--state',
      join(dir.path, 'c-refused'),
      '--proxy',
      proxy!.url,
    ],
    false,
  );
  const waiting = await waiter.waitForLine((l) => l.status === 'waiting', 'the client to be refused by the proxy');
  assert.match(String(waiting.reason), /refused CONNECT .*403/);
  await waiter.stop();
});
