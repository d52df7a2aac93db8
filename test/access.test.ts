/**
 * Who may see and reach what: key isolation in browse and open, logging in once operators exist,
 * wrong passwords, lockout after repeated failures, `operator`-role accounts limited to their keys,
 * and TOTP. Real server and client processes; controls through the CLI and the SDK.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CloseCodes } from '../src/protocol/closeCodes.js';
import { currentTotp } from '../src/store/totp.js';
import {
  addKey,
  Proc,
  runCli,
  startClient,
  startServer,
  tempDir,
  waitFor,
  type RunningServer,
} from './helpers/harness.js';
import {
  browse,
  connectControl,
  controlCli,
  jsonOf,
  rawClient,
  rawControl,
  stopAll,
  type RawPeer,
} from './helpers/sb.js';

const dir = tempDir('sb-access-');
const procs: Proc[] = [];
let server: RunningServer;
let keyA: string;
let keyB: string;
const ADMIN = { operator: 'root', password: 'admin-password-1' };
const OPS = { operator: 'ops', password: 'ops-password-1' };

function config(data: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  return runCli(['config', '--data', data, ...args], { env });
}

before(async () => {
  server = await startServer(`${dir.path}/data`);
  procs.push(server.proc);
  keyA = await addKey(server.data, 'alpha');
  keyB = await addKey(server.data, 'beta');
  procs.push(
    await startClient([
      '--gateway',
      server.address,
      '--key',
      keyA,
      '--name',
      'a-web',
      '--group',
      'web',
      '--state',
      `${dir.path}/a1`,
      '--allow-forward',
      '1',
    ]),
  );
  procs.push(
    await startClient([
      '--gateway',
      server.address,
      '--key',
      keyA,
      '--name',
      'a-db',
      '--group',
      'db',
      '--state',
      `${dir.path}/a2`,
    ]),
  );
  procs.push(
    await startClient([
      '--gateway',
      server.address,
      '--key',
      keyB,
      '--name',
      'b-web',
      '--group',
      'web',
      '--state',
      `${dir.path}/b1`,
      '--allow-forward',
      '1',
    ]),
  );
});

after(async () => {
  await stopAll(procs);
  dir.remove();
});

test('browse: a control sees the clients of its own key only', async () => {
  const a = jsonOf<
    {
      id: string;
      name: string;
      group: string;
      platform: string;
      address: string;
      server: string;
      connectedAt: string;
    }[]
  >(await controlCli(server.address, keyA, ['browse', '--json']));
  assert.deepEqual(
    a.map((c) => c.name),
    ['a-db', 'a-web'],
  );
  for (const c of a) {
    assert.deepEqual(Object.keys(c).sort(), ['address', 'connectedAt', 'group', 'id', 'name', 'platform', 'server']);
    assert.equal(c.server, server.address);
    assert.equal(c.address, '127.0.0.1');
    assert.ok(!Number.isNaN(Date.parse(c.connectedAt)));
  }
  const b = await browse(server.address, keyB);
  assert.deepEqual(
    b.map((c) => c.name),
    ['b-web'],
  );
  assert.ok(!b.some((c) => a.some((x) => x.id === c.id)));
  // Filters narrow within the key, never across it.
  const web = jsonOf<{ name: string }[]>(
    await controlCli(server.address, keyA, ['browse', '--json', '--group', 'web']),
  );
  assert.deepEqual(
    web.map((c) => c.name),
    ['a-web'],
  );
  const filtered = jsonOf<{ name: string }[]>(
    await controlCli(server.address, keyA, ['browse', '--json', '--filter', 'b-web']),
  );
  assert.deepEqual(filtered, []);
  // The text table has a header and a row per client.
  const text = await controlCli(server.address, keyA, ['browse']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^NAME\s+ID\s+GROUP/);
  assert.equal(text.stdout.trim().split('\n').length, 3);
});

test('open: a control cannot reach a client of another key, even by its id', async () => {
  const [bWeb] = await browse(server.address, keyB);
  const control = await connectControl(server.address, keyA);
  try {
    for (const target of [bWeb!.id, 'b-web']) {
      await assert.rejects(
        control.open(target, { kind: 'forward', port: 1 }),
        (err: Error & { code?: string }) => err.code === 'SB_ERR_UNKNOWN_CLIENT' && /no client/.test(err.message),
      );
    }
  } finally {
    control.close();
  }
  const viaCli = await controlCli(server.address, keyA, ['exec', bWeb!.id, '--', 'true']);
  assert.notEqual(viaCli.code, 0);
  assert.match(viaCli.stderr, /no client/);
});

test('a key added a moment ago is accepted at once, by a client and by a control', async () => {
  const fresh = await addKey(server.data, 'fresh');
  // In-process peers: a hello within milliseconds of the write, well before the server's next poll.
  const client = await rawClient(server.address, fresh, { name: 'fresh-one' });
  const control = await rawControl(server.address, fresh);
  try {
    await client.next('welcome');
    await control.next('ready');
  } finally {
    client.terminate();
    control.terminate();
  }
  assert.equal((await config(server.data, ['key', 'remove', 'fresh'])).code, 0);
});

test('a wrong key is refused with a clear error and a non-zero exit', async () => {
  const result = await controlCli(server.address, 'not-a-configured-key', ['browse']);
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /^switchboard: .*key not accepted/);
  assert.equal(result.stderr.trim().split('\n').length, 1, 'one clear line');
});

test('once an operator exists, every control must log in', async () => {
  const before = await controlCli(server.address, keyA, ['browse', '--json']);
  assert.equal(before.code, 0, 'without operators a valid key is enough');
  const add = await config(
    server.data,
    ['operator', 'add', ADMIN.operator, '--role', 'admin', '--password-env', 'PW'],
    { PW: ADMIN.password },
  );
  assert.equal(add.code, 0, add.stderr);
  // At once: a login reads the store as it is, not as the last poll saw it.
  await assert.rejects(
    connectControl(server.address, keyA),
    (err: Error & { code?: string }) => err.code === 'SB_ERR_LOGIN_REQUIRED',
  );
  // The running server picks the new operator up; from then on a key alone is not enough.
  const refused = await waitFor(async () => {
    const r = await controlCli(server.address, keyA, ['browse']);
    return r.code !== 0 && r;
  }, 'the server to require a login');
  assert.match(refused.stderr, /operator name and password required/);
  assert.equal(refused.stderr.trim().split('\n').length, 1);
  const loggedIn = jsonOf<{ name: string }[]>(await controlCli(server.address, keyA, ['browse', '--json'], ADMIN));
  assert.deepEqual(
    loggedIn.map((c) => c.name),
    ['a-db', 'a-web'],
  );
  // --password-stdin works for controls too.
  const stdin = await runCli(
    [
      'control',
      '--gateway',
      server.address,
      '--key',
      keyB,
      '--operator',
      ADMIN.operator,
      '--password-stdin',
      'browse',
      '--json',
    ],
    { input: `${ADMIN.password}\n` },
  );
  assert.deepEqual(
    jsonOf<{ name: string }[]>(stdin).map((c) => c.name),
    ['b-web'],
  );
});

test('a wrong password is refused with a clear error and a non-zero exit', async () => {
  const wrong = await controlCli(server.address, keyA, ['browse'], {
    operator: ADMIN.operator,
    password: 'not-the-password',
  });
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr, /wrong operator name or password/);
  assert.equal(wrong.stderr.trim().split('\n').length, 1);
  const unknown = await controlCli(server.address, keyA, ['browse'], { operator: 'nobody', password: 'whatever-123' });
  assert.notEqual(unknown.code, 0);
  assert.match(unknown.stderr, /wrong operator name or password/, 'an unknown name gets the same answer');
  await server.proc.waitForLine(
    (l) => l.msg === 'login failed' && l.operator === ADMIN.operator,
    'the failure in the log',
  );
  // The right password still works (two failures are under the lockout threshold).
  await assert.doesNotReject(browse(server.address, keyA, ADMIN));
});

test('an operator-role account reaches only the keys it was given', async () => {
  const add = await config(
    server.data,
    ['operator', 'add', OPS.operator, '--role', 'operator', '--keys', 'alpha', '--password-stdin'],
    {},
  );
  assert.notEqual(add.code, 0, 'no password given on stdin');
  const added = await runCli(
    [
      'config',
      '--data',
      server.data,
      'operator',
      'add',
      OPS.operator,
      '--role',
      'operator',
      '--keys',
      'alpha',
      '--password-stdin',
    ],
    { input: `${OPS.password}\n` },
  );
  assert.equal(added.code, 0, added.stderr);
  const allowed = await waitFor(async () => {
    const r = await controlCli(server.address, keyA, ['browse', '--json'], OPS);
    return r.code === 0 && r;
  }, 'the new operator to be accepted');
  assert.deepEqual(
    (JSON.parse(allowed.stdout) as { name: string }[]).map((c) => c.name),
    ['a-db', 'a-web'],
  );
  const forbidden = await controlCli(server.address, keyB, ['browse', '--json'], OPS);
  assert.notEqual(forbidden.code, 0);
  assert.match(forbidden.stderr, /operator ops may not use key beta/);
  // An admin may use any key.
  assert.deepEqual(
    (await browse(server.address, keyB, ADMIN)).map((c) => c.name),
    ['b-web'],
  );
});

test('TOTP: an enrolled operator needs the current code', async () => {
  const enrol = await config(server.data, ['operator', 'totp', OPS.operator]);
  assert.equal(enrol.code, 0, enrol.stderr);
  const secret = new URL(enrol.stdout.trim()).searchParams.get('secret');
  assert.ok(secret, enrol.stdout);
  const without = await waitFor(async () => {
    const r = await controlCli(server.address, keyA, ['browse'], OPS);
    return r.code !== 0 && r;
  }, 'the server to require TOTP');
  assert.match(without.stderr, /TOTP code required/);
  const withCode = await controlCli(server.address, keyA, ['--totp', currentTotp(secret), 'browse', '--json'], OPS);
  assert.equal(withCode.code, 0, withCode.stderr);
});

test('lockout: after repeated failures even the right password is refused for a while', async () => {
  // A server of its own: the lockout also covers the address, which every test here shares.
  const own = await startServer(`${dir.path}/lockout`);
  procs.push(own.proc);
  const key = await addKey(own.data, 'k');
  assert.equal((await config(own.data, ['set', 'lockout-attempts', '3'])).code, 0);
  assert.equal(
    (
      await config(own.data, ['operator', 'add', 'victim', '--role', 'admin', '--password-env', 'PW'], {
        PW: 'the-right-password',
      })
    ).code,
    0,
  );
  await waitFor(async () => {
    const r = await controlCli(own.address, key, ['browse']);
    return r.code !== 0 && /required/.test(r.stderr);
  }, 'the operator to be in force');

  // A burst of wrong passwords.
  const peers: RawPeer[] = await Promise.all(
    Array.from({ length: 10 }, () => rawControl(own.address, key, { operator: 'victim', password: 'guess' })),
  );
  const codes = (await Promise.all(peers.map((p) => p.closeResult()))).map((c) => c.code);
  assert.ok(
    codes.every((c) => c === CloseCodes.BAD_LOGIN || c === CloseCodes.LOCKED_OUT),
    JSON.stringify(codes),
  );
  // Only a few are checked at once (the rest refused at once, not counted): guess on, one at a
  // time, until the lock (doubling with each failure past the free ones) is long enough to see.
  assert.ok(
    codes.some((c) => c === CloseCodes.BAD_LOGIN),
    JSON.stringify(codes),
  );
  await waitFor(
    async () => {
      const guess = await (await rawControl(own.address, key, { operator: 'victim', password: 'guess' })).closeResult();
      return guess.code === CloseCodes.LOCKED_OUT && Number(/in (\d+) s/.exec(guess.reason)?.[1]) >= 8;
    },
    'a lock of 8 s',
    60_000,
    300,
  );

  // Now the right password is refused too, with a clear message and close code.
  const right = await rawControl(own.address, key, { operator: 'victim', password: 'the-right-password' });
  const closed = await right.closeResult();
  assert.equal(closed.code, CloseCodes.LOCKED_OUT);
  assert.match(closed.reason, /too many failed logins; try again in \d+ s/);
  const cli = await controlCli(own.address, key, ['browse'], { operator: 'victim', password: 'the-right-password' });
  assert.notEqual(cli.code, 0);
  assert.match(cli.stderr, /too many failed logins/);
  assert.equal(cli.stderr.trim().split('\n').length, 1);
  await stopAll([own.proc]);
});
