import assert from 'node:assert/strict';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ControlClient } from '../src/control/controlClient.js';
import { ErrorCodes, type SwitchboardError } from '../src/protocol/errors.js';
import { request } from './helpers/api.js';
import { addKey, Proc, runCli, startClient, startServer, tempDir, type RunningServer } from './helpers/harness.js';
import { connectTcp, echoRoundTrip, echoService, stopAll, type Service } from './helpers/sb.js';

/**
 * Gateway profiles for controls, with real processes: `control profile add|list|remove`, owner-only
 * files, any command with `--profile NAME`, `login` once then no password, `logout` ending the
 * session on the server.
 */

const dir = tempDir('sb-profiles-');
const xdg = join(dir.path, 'config');
const ADMIN = { operator: 'ada', password: 'correct horse battery staple' };
let server: RunningServer;
let key: string;
let keyFile: string;
let echo: Service;
const procs: Proc[] = [];

/** `switchboard ARGS` as a user whose configuration directory is `xdg`. */
function sb(args: string[], env: NodeJS.ProcessEnv = {}, input?: string) {
  return runCli(args, { env: { XDG_CONFIG_HOME: xdg, ...env }, input });
}

const profileFile = (name: string) => join(xdg, 'switchboard', 'profiles', `${name}.json`);
const sessionFile = (name: string) => join(xdg, 'switchboard', 'sessions', `${name}.json`);
const modeOf = (path: string) => statSync(path).mode & 0o777;

before(async () => {
  server = await startServer(join(dir.path, 'data'));
  key = await addKey(server.data, 'default');
  keyFile = join(dir.path, 'key');
  writeFileSync(keyFile, `${key}\n`, { mode: 0o600 });
  const added = await runCli(
    ['config', '--data', server.data, 'operator', 'add', ADMIN.operator, '--role', 'admin', '--password-env', 'PW'],
    { env: { PW: ADMIN.password } },
  );
  assert.equal(added.code, 0, added.stderr);
  echo = await echoService();
  procs.push(
    await startClient([
      '--gateway',
      server.address,
      '--key',
      key,
      '--name',
      'prof-1',
      '--state',
      join(dir.path, 'c1'),
      '--allow-forward',
      String(echo.port),
    ]),
  );
});

after(async () => {
  await stopAll([...procs, server.proc]);
  await echo.close();
  dir.remove();
});

test('profile add, list and remove keep owner-only files in $XDG_CONFIG_HOME/switchboard', async () => {
  const add = await sb([
    'control',
    'profile',
    'add',
    'scratch',
    '--gateway',
    server.address,
    '--key',
    'not-shown',
    '--operator',
    'x',
    '--proxy',
    'http://127.0.0.1:1',
  ]);
  assert.equal(add.code, 0, add.stderr);
  assert.equal(modeOf(join(xdg, 'switchboard')), 0o700);
  assert.equal(modeOf(join(xdg, 'switchboard', 'profiles')), 0o700);
  assert.equal(modeOf(profileFile('scratch')), 0o600);

  const again = await sb(['control', 'profile', 'add', 'scratch', '--gateway', server.address]);
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /^switchboard: profile scratch exists; remove it first or add it with --replace\n$/);
  const missing = await sb([
    'control',
    'profile',
    'add',
    'bad',
    '--gateway',
    server.address,
    '--key-file',
    join(dir.path, 'nope'),
  ]);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /key file .*nope: no such file/);
  const badName = await sb(['control', 'profile', 'add', '../evil', '--gateway', server.address]);
  assert.notEqual(badName.code, 0);
  assert.match(badName.stderr, /bad profile name/);

  const list = await sb(['control', 'profile', 'list', '--json']);
  assert.equal(list.code, 0, list.stderr);
  assert.deepEqual(JSON.parse(list.stdout), [
    {
      name: 'scratch',
      gateway: server.address,
      key: '(in the profile)',
      operator: 'x',
      proxy: 'http://127.0.0.1:1',
      session: null,
    },
  ]);
  const text = await sb(['control', 'profile', 'list']);
  assert.match(text.stdout, /^NAME +GATEWAY/);
  assert.ok(
    !text.stdout.includes('not-shown') && !list.stdout.includes('not-shown'),
    'a key in a profile is never printed',
  );

  const removed = await sb(['control', 'profile', 'remove', 'scratch']);
  assert.equal(removed.code, 0, removed.stderr);
  assert.equal((await sb(['control', 'profile', 'list', '--json'])).stdout.trim(), '[]');
  const gone = await sb(['control', 'profile', 'remove', 'scratch']);
  assert.notEqual(gone.code, 0);
  assert.match(gone.stderr, /no profile scratch/);
});

test('any control command takes its gateway, key and operator from --profile; flags given win', async () => {
  assert.equal(
    (
      await sb([
        'control',
        'profile',
        'add',
        'lab',
        '--gateway',
        server.address,
        '--key-file',
        keyFile,
        '--operator',
        ADMIN.operator,
      ])
    ).code,
    0,
  );
  const browse = await sb(['control', '--profile', 'lab', '--password-env', 'PW', 'browse', '--json'], {
    PW: ADMIN.password,
  });
  assert.equal(browse.code, 0, browse.stderr);
  assert.deepEqual(
    (JSON.parse(browse.stdout) as { name: string }[]).map((c) => c.name),
    ['prof-1'],
  );
  const servers = await sb(['control', '--profile', 'lab', '--password-env', 'PW', 'servers', '--json'], {
    PW: ADMIN.password,
  });
  assert.equal(servers.code, 0, servers.stderr);
  // A flag on the command line wins over the profile's setting.
  const wrongKey = await sb(['control', '--profile', 'lab', '--key', 'wrong-key', '--password-env', 'PW', 'browse'], {
    PW: ADMIN.password,
  });
  assert.notEqual(wrongKey.code, 0);
  assert.match(wrongKey.stderr, /key not accepted/);
  // Without a password and without a session the server asks for a login, as before.
  const noLogin = await sb(['control', '--profile', 'lab', 'browse']);
  assert.notEqual(noLogin.code, 0);
  assert.match(noLogin.stderr, /password required/);
});

test('login once, then commands need no password; the token file is owner-only and refused otherwise', async () => {
  const wrong = await sb(['control', '--profile', 'lab', 'login', '--password-env', 'PW'], { PW: 'not it' });
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr, /wrong operator name or password/);
  assert.throws(() => statSync(sessionFile('lab')), /ENOENT/);

  // The password comes from stdin here (never from argv).
  const login = await sb(['control', '--profile', 'lab', 'login'], {}, `${ADMIN.password}\n`);
  assert.equal(login.code, 0, login.stderr);
  assert.match(login.stdout, /^logged in as ada on /);
  assert.equal(modeOf(sessionFile('lab')), 0o600);
  assert.equal(modeOf(join(xdg, 'switchboard', 'sessions')), 0o700);

  const browse = await sb(['control', '--profile', 'lab', 'browse', '--json']);
  assert.equal(browse.code, 0, browse.stderr);
  assert.deepEqual(
    (JSON.parse(browse.stdout) as { name: string }[]).map((c) => c.name),
    ['prof-1'],
  );
  const listed = JSON.parse((await sb(['control', 'profile', 'list', '--json'])).stdout) as {
    name: string;
    session: { operator: string } | null;
  }[];
  assert.equal(listed.find((p) => p.name === 'lab')?.session?.operator, ADMIN.operator);

  // A forward through the profile's session: bytes round-trip with no password anywhere.
  const forward = new Proc(['control', '--profile', 'lab', 'forward', 'prof-1', `0:${echo.port}`], {
    XDG_CONFIG_HOME: xdg,
  });
  procs.push(forward);
  const line = await forward.waitForMsg('forwarding');
  const socket = await connectTcp(Number(String(line.listen).split(':').pop()));
  assert.equal(await echoRoundTrip(socket, 'via a kept session'), 'via a kept session');
  socket.destroy();
  await forward.stop();

  // Readable by others: refused, not used.
  chmodSync(sessionFile('lab'), 0o644);
  const loose = await sb(['control', '--profile', 'lab', 'browse']);
  assert.notEqual(loose.code, 0);
  assert.match(loose.stderr, /may be read or changed by others \(mode 644\): refused/);
  chmodSync(sessionFile('lab'), 0o600);
});

test('the control channel takes a token only for its own operator, and only with the key', async () => {
  const { token } = JSON.parse(readFileSync(sessionFile('lab'), 'utf8')) as { token: string };
  const ok = await ControlClient.connect({
    gateway: server.address,
    key,
    operator: ADMIN.operator,
    token,
    dial: { tls: false },
  });
  assert.ok(ok.tokenExpiresAt && Date.parse(ok.tokenExpiresAt) > Date.now());
  ok.close();
  await assert.rejects(
    ControlClient.connect({ gateway: server.address, key, operator: 'mallory', token, dial: { tls: false } }),
    (err: SwitchboardError) => err.code === ErrorCodes.BAD_LOGIN,
  );
  await assert.rejects(
    ControlClient.connect({
      gateway: server.address,
      key: 'wrong-key',
      operator: ADMIN.operator,
      token,
      dial: { tls: false },
    }),
    (err: SwitchboardError) => err.code === ErrorCodes.BAD_KEY,
  );
  await assert.rejects(
    ControlClient.connect({
      gateway: server.address,
      key,
      operator: ADMIN.operator,
      token: 'A'.repeat(43),
      dial: { tls: false },
    }),
    (err: SwitchboardError) => err.code === ErrorCodes.LOGIN_REQUIRED,
  );
});

test('logout ends the session on the server: the token no longer opens the API or a control', async () => {
  const { token } = JSON.parse(readFileSync(sessionFile('lab'), 'utf8')) as { token: string };
  assert.equal((await request(server.address, 'GET', 'session', undefined, { token })).status, 200);
  const logout = await sb(['control', '--profile', 'lab', 'logout']);
  assert.equal(logout.code, 0, logout.stderr);
  assert.throws(() => statSync(sessionFile('lab')), /ENOENT/);
  assert.equal((await request(server.address, 'GET', 'session', undefined, { token })).status, 401);
  await assert.rejects(
    ControlClient.connect({ gateway: server.address, key, operator: ADMIN.operator, token, dial: { tls: false } }),
    (err: SwitchboardError) => err.code === ErrorCodes.LOGIN_REQUIRED,
  );
  const browse = await sb(['control', '--profile', 'lab', 'browse']);
  assert.notEqual(browse.code, 0);
  assert.match(browse.stderr, /password required/);
});

test('a kept token the server no longer knows is deleted with a word on what to do', async () => {
  assert.equal(
    (await sb(['control', '--profile', 'lab', 'login', '--password-env', 'PW'], { PW: ADMIN.password })).code,
    0,
  );
  const { token } = JSON.parse(readFileSync(sessionFile('lab'), 'utf8')) as { token: string };
  // Ended behind the CLI's back (as a restart of the primary or an operator change would).
  assert.equal((await request(server.address, 'POST', 'logout', undefined, { token })).status, 204);
  const browse = await sb(['control', '--profile', 'lab', 'browse']);
  assert.notEqual(browse.code, 0);
  assert.match(
    browse.stderr,
    /the session of profile lab has ended .*; log in again: switchboard control --profile lab login/,
  );
  assert.throws(() => statSync(sessionFile('lab')), /ENOENT/);
});

test('profile remove ends its session on the server too', async () => {
  assert.equal(
    (await sb(['control', '--profile', 'lab', 'login', '--password-env', 'PW'], { PW: ADMIN.password })).code,
    0,
  );
  const { token } = JSON.parse(readFileSync(sessionFile('lab'), 'utf8')) as { token: string };
  const removed = await sb(['control', 'profile', 'remove', 'lab']);
  assert.equal(removed.code, 0, removed.stderr);
  assert.equal((await request(server.address, 'GET', 'session', undefined, { token })).status, 401);
  assert.throws(() => statSync(profileFile('lab')), /ENOENT/);
});
