/**
 * The REST API (/api/v1) against real server processes: login with password and TOTP, bearer
 * tokens and cookies with CSRF, roles (an operator sees only its keys' clients and no admin API),
 * validation, every endpoint, the live event stream, exec on a client, lockout, and in a cluster:
 * a member refuses with 421 naming the primary, and a weight edit applies and replicates at once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  addOperator,
  currentTotp,
  enrolTotp,
  EventReader,
  freePort,
  login,
  request,
  secretOf,
  type LoggedIn,
} from './helpers/api.js';
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
import { batchingClientChanges, MAX_STREAMS_PER_OPERATOR } from '../src/server/api/eventRoutes.js';

const dir = tempDir('sb-api-');
const procs: Proc[] = [];
let server: RunningServer;
let defaultKey: string;
let otherKey: string;
let adminTotp: string;
let admin: LoggedIn;
let ops: LoggedIn;

const PW = { admin: 'admin-password', ops: 'ops-password', other: 'other-password' };

async function client(name: string, key: string, extra: string[] = []): Promise<Proc> {
  const proc = await startClient([
    '--gateway',
    server.address,
    '--key',
    key,
    '--name',
    name,
    '--group',
    'lab',
    '--state',
    `${dir.path}/state-${name}`,
    ...extra,
  ]);
  procs.push(proc);
  return proc;
}

before(async () => {
  server = await startServer(`${dir.path}/data`);
  procs.push(server.proc);
  defaultKey = await addKey(server.data, 'default');
  otherKey = await addKey(server.data, 'other');
  await addOperator(server.data, 'admin', PW.admin, 'admin');
  await addOperator(server.data, 'ops', PW.ops, 'operator', ['default']);
  await addOperator(server.data, 'other-ops', PW.other, 'operator', ['other']);
  adminTotp = await enrolTotp(server.data, 'admin');
  await client('exec-box', defaultKey, ['--allow-exec']);
  await client('other-box', otherKey);
  admin = await login(server.address, 'admin', PW.admin, currentTotp(adminTotp));
  ops = await login(server.address, 'ops', PW.ops);
});

after(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  dir.remove();
});

describe('login and sessions', () => {
  test('a wrong password and a missing TOTP code are refused, and both are audited', async () => {
    const wrong = await request(server.address, 'POST', 'login', { operator: 'ops', password: 'nope-nope' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error.code, 'SB_ERR_BAD_LOGIN');
    const noTotp = await request(server.address, 'POST', 'login', { operator: 'admin', password: PW.admin });
    assert.equal(noTotp.status, 401);
    assert.match(noTotp.body.error.message, /TOTP code required/);
    const audit = await request(server.address, 'GET', 'audit?limit=50', undefined, { token: admin.token });
    const failed = audit.body
      .filter((e: { action: string }) => e.action === 'login.failed')
      .map((e: { actor: string }) => e.actor);
    assert.ok(failed.includes('ops') && failed.includes('admin'), JSON.stringify(failed));
  });

  test('login answers a token, the role and a CSRF token, and sets an HttpOnly SameSite=Strict cookie', async () => {
    assert.equal(admin.role, 'admin');
    assert.match(admin.token, /^[A-Za-z0-9_-]{40,}$/);
    assert.match(admin.setCookie, /^sb_session=[A-Za-z0-9_-]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
    assert.doesNotMatch(admin.setCookie, /Secure/, 'no Secure flag over plain HTTP');
    const me = await request(server.address, 'GET', 'session', undefined, { cookie: admin.cookie });
    assert.equal(me.status, 200);
    assert.deepEqual([me.body.operator, me.body.role, me.body.csrf], ['admin', 'admin', admin.csrf]);
    assert.ok(Date.parse(me.body.expiresAt) > Date.now());
    const audit = await request(server.address, 'GET', 'audit', undefined, { token: admin.token });
    assert.ok(audit.body.some((e: { actor: string; action: string }) => e.actor === 'admin' && e.action === 'login'));
  });

  test('without a session, or with an unknown token, every route but login answers 401', async () => {
    for (const path of ['clients', 'servers', 'keys', 'config', 'audit', 'events', 'session']) {
      const answer = await request(server.address, 'GET', path);
      assert.equal(answer.status, 401, path);
      assert.equal(answer.body.error.code, 'SB_ERR_LOGIN_REQUIRED');
    }
    const bogus = await request(server.address, 'GET', 'clients', undefined, { token: 'A'.repeat(43) });
    assert.equal(bogus.status, 401);
  });

  test('logout ends the session for both the token and the cookie', async () => {
    const s = await login(server.address, 'ops', PW.ops);
    assert.equal((await request(server.address, 'GET', 'clients', undefined, { token: s.token })).status, 200);
    const out = await request(server.address, 'POST', 'logout', undefined, { cookie: s.cookie, csrf: s.csrf });
    assert.equal(out.status, 204);
    assert.match(String(out.headers['set-cookie']), /sb_session=; .*Max-Age=0/);
    assert.equal((await request(server.address, 'GET', 'clients', undefined, { token: s.token })).status, 401);
    assert.equal((await request(server.address, 'GET', 'clients', undefined, { cookie: s.cookie })).status, 401);
  });
});

describe('roles', () => {
  test('an operator sees only the clients of its keys; an admin sees them all', async () => {
    const mine = await request(server.address, 'GET', 'clients', undefined, { token: ops.token });
    assert.equal(mine.status, 200);
    assert.deepEqual(
      mine.body.map((c: { name: string }) => c.name),
      ['exec-box'],
    );
    const all = await request(server.address, 'GET', 'clients', undefined, { token: admin.token });
    assert.deepEqual(
      all.body.map((c: { name: string }) => c.name),
      ['exec-box', 'other-box'],
    );
    const c = all.body[0];
    assert.deepEqual(
      Object.keys(c).sort(),
      ['address', 'allowExec', 'allowForward', 'connectedAt', 'group', 'id', 'name', 'platform', 'server'].sort(),
    );
    assert.equal(c.server, server.address);
    assert.equal(c.allowExec, true);
    assert.equal(all.body[1].allowExec, false);
    const filtered = await request(server.address, 'GET', 'clients?filter=other', undefined, { token: admin.token });
    assert.deepEqual(
      filtered.body.map((x: { name: string }) => x.name),
      ['other-box'],
    );
    const group = await request(server.address, 'GET', 'clients?group=nope', undefined, { token: admin.token });
    assert.deepEqual(group.body, []);
    const one = await request(server.address, 'GET', 'clients/other-box', undefined, { token: ops.token });
    assert.equal(one.status, 404, 'a client of another key does not exist for this operator');
  });

  test('an operator gets 403 from every admin route, reading or writing', async () => {
    const tries: [string, string, unknown?][] = [
      ['GET', 'keys'],
      ['POST', 'keys', { name: 'k' }],
      ['DELETE', 'keys/default'],
      ['GET', 'operators'],
      ['POST', 'operators', { name: 'x', password: 'xxxxxxxx' }],
      ['PUT', 'operators/ops', { role: 'admin' }],
      ['POST', 'operators/ops/totp'],
      ['DELETE', 'operators/admin'],
      ['POST', 'servers', { address: '127.0.0.1:1' }],
      ['PUT', 'servers/127.0.0.1:1', { weight: 1 }],
      ['DELETE', 'servers/127.0.0.1:1'],
      ['PUT', 'settings/heartbeat', { value: 5 }],
      ['GET', 'config'],
      ['GET', 'audit'],
    ];
    for (const [method, path, body] of tries) {
      const answer = await request(server.address, method, path, body, { token: ops.token });
      assert.equal(answer.status, 403, `${method} ${path}`);
      assert.equal(answer.body.error.code, 'SB_ERR_FORBIDDEN');
    }
    const servers = await request(server.address, 'GET', 'servers', undefined, { token: ops.token });
    assert.equal(servers.status, 200);
  });
});

describe('CSRF', () => {
  test('a change made with the cookie needs the CSRF token and the same origin; a bearer token needs neither', async () => {
    const none = await request(server.address, 'POST', 'keys', { name: 'csrf-a' }, { cookie: admin.cookie });
    assert.equal(none.status, 403);
    assert.equal(none.body.error.code, 'SB_ERR_CSRF');
    const wrong = await request(
      server.address,
      'POST',
      'keys',
      { name: 'csrf-a' },
      { cookie: admin.cookie, csrf: 'x'.repeat(32) },
    );
    assert.equal(wrong.status, 403);
    const foreign = await request(
      server.address,
      'POST',
      'keys',
      { name: 'csrf-a' },
      { cookie: admin.cookie, csrf: admin.csrf, headers: { origin: 'http://evil.example' } },
    );
    assert.equal(foreign.status, 403);
    const ok = await request(
      server.address,
      'POST',
      'keys',
      { name: 'csrf-a' },
      { cookie: admin.cookie, csrf: admin.csrf, headers: { origin: `http://${server.address}` } },
    );
    assert.equal(ok.status, 201, ok.text);
    const bearer = await request(server.address, 'DELETE', 'keys/csrf-a', undefined, { token: admin.token });
    assert.equal(bearer.status, 204);
    const read = await request(server.address, 'GET', 'keys', undefined, { cookie: admin.cookie });
    assert.equal(read.status, 200, 'reading needs no CSRF token');
  });
});

describe('validation', () => {
  test('bad bodies, queries and paths are refused with a code and a message', async () => {
    const cases: [string, string, { raw?: string; body?: unknown; ct?: string }, number, string][] = [
      ['POST', 'keys', { body: { name: 'has space' } }, 400, 'SB_ERR_BAD_MESSAGE'],
      ['POST', 'keys', { body: { name: 'ok', value: 'short' } }, 400, 'SB_ERR_BAD_MESSAGE'],
      ['POST', 'keys', { body: { name: 'ok', extra: 1 } }, 400, 'SB_ERR_BAD_MESSAGE'],
      ['POST', 'keys', { raw: '{not json', ct: 'application/json' }, 400, 'SB_ERR_BAD_MESSAGE'],
      ['POST', 'keys', { raw: 'name=x', ct: 'application/x-www-form-urlencoded' }, 415, 'SB_ERR_BAD_MESSAGE'],
      ['POST', 'keys', { body: { name: 'default' } }, 409, 'SB_ERR_CONFIG'],
      ['DELETE', 'keys/nope', {}, 404, 'SB_ERR_NOT_FOUND'],
      ['POST', 'servers', { body: { address: 'no-port' } }, 400, 'SB_ERR_CONFIG'],
      ['POST', 'servers', { body: { address: '127.0.0.1:9', weight: -1 } }, 400, 'SB_ERR_BAD_MESSAGE'],
      ['POST', 'servers', { body: { address: '127.0.0.1:9', secondry: true } }, 400, 'SB_ERR_BAD_MESSAGE'],
      ['PUT', 'servers/127.0.0.1:9', { body: { weight: 5 } }, 404, 'SB_ERR_NOT_FOUND'],
      ['PUT', 'settings/nope', { body: { value: 1 } }, 400, 'SB_ERR_CONFIG'],
      ['PUT', 'settings/heartbeat', { body: { value: 'soon' } }, 400, 'SB_ERR_CONFIG'],
      ['PUT', 'settings/heartbeat', { body: {} }, 400, 'SB_ERR_BAD_MESSAGE'],
      ['POST', 'operators', { body: { name: 'weak', password: 'short' } }, 400, 'SB_ERR_CONFIG'],
      [
        'POST',
        'operators',
        { body: { name: 'nokey', password: 'long-enough', keys: ['missing'] } },
        400,
        'SB_ERR_CONFIG',
      ],
      [
        'POST',
        'operators',
        { body: { name: 'badrole', password: 'long-enough', role: 'root' } },
        400,
        'SB_ERR_BAD_MESSAGE',
      ],
      ['GET', 'audit?limit=0', {}, 400, 'SB_ERR_BAD_MESSAGE'],
      ['GET', 'audit?limit=abc', {}, 400, 'SB_ERR_BAD_MESSAGE'],
      ['GET', 'clients?colour=red', {}, 400, 'SB_ERR_BAD_MESSAGE'],
      ['POST', 'exec', { body: { client: 'exec-box', command: [] } }, 400, 'SB_ERR_BAD_MESSAGE'],
      ['POST', 'exec', { body: { client: 'exec-box', command: 'ls' } }, 400, 'SB_ERR_BAD_MESSAGE'],
      ['GET', 'nothing-here', {}, 404, 'SB_ERR_NOT_FOUND'],
      ['DELETE', 'clients', {}, 405, 'SB_ERR_NOT_FOUND'],
      ['DELETE', 'keys/%E0%A4%A', {}, 400, 'SB_ERR_BAD_MESSAGE'],
    ];
    for (const [method, path, c, status, code] of cases) {
      const answer = await request(server.address, method, path, c.body, {
        token: admin.token,
        raw: c.raw,
        headers: c.ct ? { 'content-type': c.ct } : {},
      });
      assert.equal(answer.status, status, `${method} ${path} ${JSON.stringify(c)}: ${answer.text}`);
      assert.equal(answer.body.error.code, code, `${method} ${path}`);
      assert.ok(answer.body.error.message.length > 0);
    }
  });

  test('a body over 64 KiB is refused with 413 before it is read whole', async () => {
    const big = JSON.stringify({ name: 'big', value: 'x'.repeat(70 * 1024) });
    const answer = await request(server.address, 'POST', 'keys', undefined, {
      token: admin.token,
      raw: big,
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(answer.status, 413);
    assert.equal(answer.body.error.code, 'SB_ERR_MESSAGE_TOO_BIG');
  });

  test('a login body is validated too', async () => {
    const answer = await request(server.address, 'POST', 'login', { operator: 'admin' });
    assert.equal(answer.status, 400);
  });
});

describe('configuration endpoints', () => {
  test('keys: add (random or given value), list with values, remove; each change audited with the admin', async () => {
    const added = await request(server.address, 'POST', 'keys', { name: 'api-key' }, { token: admin.token });
    assert.equal(added.status, 201);
    assert.ok(added.body.value.length >= 32);
    const given = await request(
      server.address,
      'POST',
      'keys',
      { name: 'api-key2', value: 'given-value-123' },
      { token: admin.token },
    );
    assert.equal(given.body.value, 'given-value-123');
    const list = await request(server.address, 'GET', 'keys', undefined, { token: admin.token });
    assert.deepEqual(
      list.body.map((k: { name: string }) => k.name),
      ['api-key', 'api-key2', 'default', 'other'],
    );
    assert.equal(
      (await request(server.address, 'DELETE', 'keys/api-key2', undefined, { token: admin.token })).status,
      204,
    );
    assert.equal(
      (await request(server.address, 'DELETE', 'keys/api-key', undefined, { token: admin.token })).status,
      204,
    );
    const audit = await request(server.address, 'GET', 'audit?limit=10', undefined, { token: admin.token });
    const mine = audit.body.filter(
      (e: { actor: string; action: string }) => e.actor === 'admin' && e.action.startsWith('key.'),
    );
    assert.deepEqual(
      mine.slice(0, 4).map((e: { action: string; detail: { name: string } }) => `${e.action} ${e.detail.name}`),
      ['key.remove api-key', 'key.remove api-key2', 'key.add api-key2', 'key.add api-key'],
    );
    assert.ok(!JSON.stringify(audit.body).includes('given-value-123'), 'no key value in the audit log');
  });

  test('operators: add, change role and keys, enrol TOTP with a QR code, log in with it, remove', async () => {
    const added = await request(
      server.address,
      'POST',
      'operators',
      { name: 'temp', password: 'temp-password', keys: ['default'] },
      { token: admin.token },
    );
    assert.equal(added.status, 201, added.text);
    assert.deepEqual(
      [added.body.name, added.body.role, added.body.keys, added.body.hasTotp],
      ['temp', 'operator', ['default'], false],
    );
    const tempSession = await login(server.address, 'temp', 'temp-password');
    const changed = await request(
      server.address,
      'PUT',
      'operators/temp',
      { keys: ['default', 'other'] },
      { token: admin.token },
    );
    assert.deepEqual(changed.body.keys, ['default', 'other']);
    const seen = await request(server.address, 'GET', 'clients', undefined, { token: tempSession.token });
    assert.equal(seen.body.length, 2, 'a change of keys applies to a live session at once');
    const totp = await request(server.address, 'POST', 'operators/temp/totp', undefined, { token: admin.token });
    assert.equal(totp.status, 200);
    assert.match(totp.body.uri, /^otpauth:\/\/totp\/Switchboard:temp\?secret=/);
    assert.match(totp.body.qr, /^data:image\/svg\+xml;base64,/);
    assert.match(Buffer.from(totp.body.qr.split(',')[1], 'base64').toString(), /<svg/);
    const refused = await request(server.address, 'POST', 'login', { operator: 'temp', password: 'temp-password' });
    assert.equal(refused.status, 401);
    await login(server.address, 'temp', 'temp-password', currentTotp(secretOf(totp.body.uri)));
    const list = await request(server.address, 'GET', 'operators', undefined, { token: admin.token });
    assert.equal(list.body.find((o: { name: string }) => o.name === 'temp').hasTotp, true);
    assert.ok(!JSON.stringify(list.body).includes('passwordHash'), 'no hashes in the list');
    assert.equal(
      (await request(server.address, 'DELETE', 'operators/temp', undefined, { token: admin.token })).status,
      204,
    );
    assert.equal(
      (await request(server.address, 'GET', 'clients', undefined, { token: tempSession.token })).status,
      401,
      'a removed operator is logged out',
    );
  });

  test('the last admin cannot be removed or demoted', async () => {
    const remove = await request(server.address, 'DELETE', 'operators/admin', undefined, { token: admin.token });
    assert.equal(remove.status, 400);
    assert.match(remove.body.error.message, /last admin/);
    const demote = await request(
      server.address,
      'PUT',
      'operators/admin',
      { role: 'operator' },
      { token: admin.token },
    );
    assert.equal(demote.status, 400);
  });

  test('the server table: add, edit, delete; settings; config shows it all', async () => {
    const added = await request(
      server.address,
      'POST',
      'servers',
      { address: '127.0.0.1:9', weight: 300, enabled: false },
      { token: admin.token },
    );
    assert.equal(added.status, 201);
    assert.deepEqual(added.body, { address: '127.0.0.1:9', weight: 300, enabled: false, secondary: false });
    const edited = await request(
      server.address,
      'PUT',
      'servers/127.0.0.1:9',
      { weight: 700, secondary: true, enabled: true },
      { token: admin.token },
    );
    assert.deepEqual(edited.body, { address: '127.0.0.1:9', weight: 700, enabled: true, secondary: true });
    const setting = await request(
      server.address,
      'PUT',
      'settings/lockout-attempts',
      { value: 7 },
      { token: admin.token },
    );
    assert.deepEqual(setting.body, { name: 'lockout-attempts', value: 7 });
    const tls = await request(server.address, 'PUT', 'settings/require-tls', { value: false }, { token: admin.token });
    assert.equal(tls.status, 200);
    const config = await request(server.address, 'GET', 'config', undefined, { token: admin.token });
    assert.deepEqual(Object.keys(config.body).sort(), ['keys', 'operators', 'servers', 'settings', 'version']);
    assert.equal(config.body.settings['lockout-attempts'], 7);
    assert.deepEqual(config.body.servers, [{ address: '127.0.0.1:9', weight: 700, enabled: true, secondary: true }]);
    assert.ok(!JSON.stringify(config.body).includes(defaultKey), 'config show has no key values');
    // The running server applied it at once: the offline view of the same store agrees.
    const offline = await runCli(['config', '--data', server.data, 'show', '--json']);
    assert.equal(JSON.parse(offline.stdout).version, config.body.version);
    assert.equal(
      (await request(server.address, 'DELETE', 'servers/127.0.0.1:9', undefined, { token: admin.token })).status,
      204,
    );
    const servers = await request(server.address, 'GET', 'servers', undefined, { token: admin.token });
    assert.deepEqual(Object.keys(servers.body[0]).sort(), [
      'address',
      'clients',
      'enabled',
      'role',
      'secondary',
      'sessions',
      'status',
      'weight',
    ]);
    assert.equal(servers.body[0].clients, 2);
  });
});

describe('exec', () => {
  test('runs a command on a client that allows it and answers its output and exit code', async () => {
    const answer = await request(
      server.address,
      'POST',
      'exec',
      { client: 'exec-box', command: ['sh', '-c', 'echo out; echo err >&2; exit 3'] },
      { token: ops.token },
    );
    assert.equal(answer.status, 200, answer.text);
    assert.deepEqual(
      [answer.body.stdout, answer.body.stderr, answer.body.code, answer.body.truncated, answer.body.timedOut],
      ['out\n', 'err\n', 3, false, false],
    );
    const audit = await request(server.address, 'GET', 'audit?limit=5', undefined, { token: admin.token });
    const entry = audit.body.find((e: { action: string }) => e.action === 'exec');
    assert.equal(entry.actor, 'ops');
    assert.deepEqual(entry.detail.command, ['sh', '-c', 'echo out; echo err >&2; exit 3']);
  });

  test('output is bounded at 64 KiB per stream and a slow command is cut at its timeout', async () => {
    const big = await request(
      server.address,
      'POST',
      'exec',
      { client: 'exec-box', command: ['sh', '-c', 'yes 0123456789 | head -c 300000'] },
      { token: admin.token },
    );
    assert.equal(big.status, 200);
    assert.equal(big.body.stdout.length, 64 * 1024);
    assert.equal(big.body.truncated, true);
    const slow = await request(
      server.address,
      'POST',
      'exec',
      { client: 'exec-box', command: ['sleep', '30'], timeoutMs: 300 },
      { token: admin.token },
    );
    assert.equal(slow.status, 200);
    assert.deepEqual([slow.body.timedOut, slow.body.code], [true, null]);
  });

  test("the client's policy and the operator's keys are respected", async () => {
    const policy = await request(
      server.address,
      'POST',
      'exec',
      { client: 'other-box', command: ['true'] },
      { token: admin.token },
    );
    assert.equal(policy.status, 403);
    assert.equal(policy.body.error.code, 'SB_ERR_POLICY_REFUSED');
    const keys = await request(
      server.address,
      'POST',
      'exec',
      { client: 'other-box', command: ['true'] },
      { token: ops.token },
    );
    assert.equal(keys.status, 404);
    assert.equal(keys.body.error.code, 'SB_ERR_UNKNOWN_CLIENT');
  });
});

describe('events', () => {
  test("the stream carries clients up and down for the caller's keys only, and the server table", async () => {
    const stream = await EventReader.open(server.address, ops.token);
    try {
      assert.equal(stream.status, 200);
      const first = await stream.next((e) => e.event === 'servers', 'the initial server table');
      assert.equal(first.data[0].address, server.address);
      const hidden = await client('late-other', otherKey);
      const late = await client('late-default', defaultKey);
      const up = await stream.next((e) => e.event === 'client-up' && e.data.name === 'late-default', 'late-default up');
      assert.equal(up.data.server, server.address);
      assert.ok(!stream.events.some((e) => e.data?.name === 'late-other'), 'no event for a client of another key');
      await stream.next(
        (e) => e.event === 'servers' && e.data[0].clients === 4,
        'the client count in the server table',
      );
      await late.stop();
      await hidden.stop();
      await stream.next((e) => e.event === 'client-down' && e.data.id === up.data.id, 'late-default down', up.index);
    } finally {
      stream.close();
    }
  });

  test("with ?batch=1 client changes come as `clients` events, for the caller's keys only", async () => {
    const stream = await EventReader.open(server.address, ops.token, '?batch=1');
    try {
      await stream.next((e) => e.event === 'servers', 'the initial server table');
      const hidden = await client('batch-other', otherKey);
      const late = await client('batch-default', defaultKey);
      type Change = { up?: { id: string; name: string; server: string }; down?: { id: string } };
      const changes = () => stream.events.filter((e) => e.event === 'clients').flatMap((e) => e.data as Change[]);
      await waitFor(() => changes().some((c) => c.up?.name === 'batch-default'), 'batch-default up');
      const up = changes().find((c) => c.up?.name === 'batch-default')!.up!;
      assert.equal(up.server, server.address);
      await late.stop();
      await hidden.stop();
      await waitFor(() => changes().some((c) => c.down?.id === up.id), 'batch-default down');
      assert.ok(!changes().some((c) => c.up?.name === 'batch-other'), 'no change for a client of another key');
      assert.ok(!stream.events.some((e) => e.event === 'client-up' || e.event === 'client-down'));
    } finally {
      stream.close();
    }
  });

  test('a batched stream sends the changes of one turn as one event, in order, the server table between', async () => {
    const written: string[] = [];
    const send = batchingClientChanges((text) => written.push(text));
    const up = (name: string) => ({ type: 'client-up' as const, key: 'k', data: { name } as never });
    const down = (id: string) => ({ type: 'client-down' as const, key: 'k', data: { id, server: 's' } });
    send(up('a'));
    send(down('x'));
    send(up('b'));
    send({ type: 'servers', data: [] });
    send(up('c'));
    await new Promise((r) => setImmediate(r));
    const data = written.map((t) => [/^event: (.*)$/m.exec(t)![1], JSON.parse(/^data: (.*)$/m.exec(t)![1]!)]);
    assert.deepEqual(data, [
      ['clients', [{ up: { name: 'a' } }, { down: { id: 'x', server: 's' } }, { up: { name: 'b' } }]],
      ['servers', []],
      ['clients', [{ up: { name: 'c' } }]],
    ]);
  });

  test('an operator holds at most 16 live streams on a server; closing one makes room', async () => {
    const streams = await Promise.all(
      Array.from({ length: MAX_STREAMS_PER_OPERATOR }, () => EventReader.open(server.address, admin.token)),
    );
    try {
      assert.deepEqual([...new Set(streams.map((s) => s.status))], [200]);
      const refused = await EventReader.open(server.address, admin.token);
      refused.close();
      assert.equal(refused.status, 429);
      const answer = await request(server.address, 'GET', 'events', undefined, { token: admin.token });
      assert.equal(answer.body.error.code, 'SB_ERR_TOO_MANY_SESSIONS');
      const other = await EventReader.open(server.address, ops.token);
      other.close();
      assert.equal(other.status, 200, "another operator's streams are counted apart");
      streams.pop()!.close();
      await waitFor(async () => {
        const again = await EventReader.open(server.address, admin.token);
        if (again.status !== 200) again.close();
        else streams.push(again);
        return again.status === 200;
      }, 'room for a stream once one closed');
    } finally {
      for (const s of streams) s.close();
    }
  });

  test('the stream ends when its session does', async () => {
    const s = await login(server.address, 'ops', PW.ops);
    const stream = await EventReader.open(server.address, s.token);
    await stream.next((e) => e.event === 'servers', 'the initial server table');
    await request(server.address, 'POST', 'logout', undefined, { token: s.token });
    await waitFor(() => stream.closed, 'the stream to end');
  });
});

describe('lockout', () => {
  test('repeated failures lock the account out for a while, from any address, and are audited', async () => {
    await request(server.address, 'PUT', 'settings/lockout-attempts', { value: 2 }, { token: admin.token });
    let last = await request(
      server.address,
      'POST',
      'login',
      { operator: 'other-ops', password: 'wrong-one' },
      { localAddress: '127.0.0.2' },
    );
    for (let i = 0; i < 4 && last.status !== 429; i++) {
      last = await request(
        server.address,
        'POST',
        'login',
        { operator: 'other-ops', password: 'wrong-one' },
        { localAddress: '127.0.0.2' },
      );
    }
    assert.equal(last.status, 429);
    assert.equal(last.body.error.code, 'SB_ERR_LOCKED_OUT');
    // The right password from another address is still refused while the account is locked.
    const right = await request(
      server.address,
      'POST',
      'login',
      { operator: 'other-ops', password: PW.other },
      { localAddress: '127.0.0.3' },
    );
    assert.equal(right.status, 429);
    // The locked address cannot try another account either.
    const elsewhere = await request(
      server.address,
      'POST',
      'login',
      { operator: 'ops', password: PW.ops },
      { localAddress: '127.0.0.2' },
    );
    assert.equal(elsewhere.status, 429);
    const audit = await request(server.address, 'GET', 'audit?limit=20', undefined, { token: admin.token });
    assert.ok(
      audit.body.filter(
        (e: { action: string; actor: string }) => e.action === 'login.failed' && e.actor === 'other-ops',
      ).length >= 2,
    );
  });
});

describe('in a cluster', () => {
  const secret = 'api-test-cluster-secret-0123456789';
  let primary: RunningServer;
  let member: RunningServer;
  let memberAddress: string;
  let token: string;

  before(async () => {
    const [pp, mp] = [await freePort(), await freePort()];
    const env = { SWITCHBOARD_CLUSTER_SECRET: secret };
    primary = await startServer(
      `${dir.path}/primary`,
      ['--role', 'primary', '--advertise', `127.0.0.1:${pp}`],
      env,
      `127.0.0.1:${pp}`,
    );
    procs.push(primary.proc);
    await addOperator(primary.data, 'admin', PW.admin, 'admin');
    token = (await login(primary.address, 'admin', PW.admin)).token;
    memberAddress = `127.0.0.1:${mp}`;
    const added = await request(primary.address, 'POST', 'servers', { address: memberAddress, weight: 500 }, { token });
    assert.equal(added.status, 201);
    member = await startServer(
      `${dir.path}/member`,
      ['--role', 'member', '--primary', primary.address, '--advertise', memberAddress],
      env,
      memberAddress,
    );
    procs.push(member.proc);
    await waitFor(async () => {
      const s = await request(primary.address, 'GET', 'servers', undefined, { token });
      return s.body.find((r: { address: string; status: string }) => r.address === memberAddress && r.status === 'up');
    }, 'the member to link');
  });

  test('a member answers 421 and names the primary', async () => {
    const answer = await request(member.address, 'POST', 'login', { operator: 'admin', password: PW.admin });
    assert.equal(answer.status, 421);
    assert.equal(answer.body.error.code, 'SB_ERR_NOT_PRIMARY');
    assert.equal(answer.body.error.primary, primary.address);
    assert.match(answer.body.error.message, new RegExp(primary.address));
  });

  test("an edit of a member's weight applies on the primary at once and replicates to the member", async () => {
    const edited = await request(primary.address, 'PUT', `servers/${memberAddress}`, { weight: 1234 }, { token });
    assert.equal(edited.status, 200);
    const servers = await request(primary.address, 'GET', 'servers', undefined, { token });
    assert.equal(servers.body.find((r: { address: string }) => r.address === memberAddress).weight, 1234);
    await waitFor(async () => {
      const shown = await runCli(['config', '--data', member.data, 'show', '--json']);
      return (
        shown.code === 0 &&
        (JSON.parse(shown.stdout) as { servers: { address: string; weight: number }[] }).servers.find(
          (s) => s.address === memberAddress,
        )?.weight === 1234
      );
    }, 'the member to hold the new weight');
  });
});
