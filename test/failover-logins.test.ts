/**
 * Issue 20, "logins survive failover": an operator's API session (bearer token and console cookie)
 * made on the primary stays valid on the acting secondary after kill -9 of the primary, and on the
 * primary after failback; a logout on either is honoured on the other. Real server processes.
 * Before, sessions lived only in the memory of the server that made them: every failover logged
 * every operator out.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { addOperator, configVersionServed, login, request } from './helpers/api.js';
import { waitFor } from './helpers/harness.js';
import { FailoverCluster } from './helpers/failover.js';
import { csrfOf, issueToken, sessionSigningKey, verifyToken } from '../src/server/api/sessionToken.js';

const cluster = new FailoverCluster({ subnet: '127.0.78', members: 1, heartbeat: 1 });
const { primary, secondary } = cluster;
const PASSWORD = 'failover-login-password-1';

before(async () => {
  await cluster.configure();
  await addOperator(primary.data, 'ops', PASSWORD, 'admin');
  await cluster.startAll();
});

after(() => cluster.cleanup());

test('a session token verifies under the cluster key and the stamp it was issued with, and nothing else', () => {
  const key = sessionSigningKey('0123456789abcdef-secret');
  assert.deepEqual(key, sessionSigningKey('0123456789abcdef-secret'), 'every server derives the same key');
  const { token, createdAt } = issueToken(
    key,
    'ops@site.example-with-a-long-name-of-64-chars.0123456789abc',
    'stamp-1',
    1_700_000_000_123,
  );
  assert.ok(token.length <= 128 && /^[A-Za-z0-9_-]+$/.test(token), token);
  assert.equal(createdAt, 1_700_000_000_000);
  const claims = verifyToken(key, token, () => 'stamp-1');
  assert.equal(claims?.createdAt, createdAt);
  assert.equal(
    verifyToken(key, token, () => 'stamp-2'),
    undefined,
    'password or TOTP changed',
  );
  assert.equal(
    verifyToken(key, token, () => undefined),
    undefined,
    'operator removed',
  );
  assert.equal(
    verifyToken(sessionSigningKey('another-cluster-secret!'), token, () => 'stamp-1'),
    undefined,
  );
  const raw = Buffer.from(token, 'base64url');
  raw[0]! ^= 1;
  assert.equal(
    verifyToken(key, raw.toString('base64url'), () => 'stamp-1'),
    undefined,
    'login time altered',
  );
  const renamed = Buffer.concat([raw.subarray(0, 30), Buffer.from('admin')]).toString('base64url');
  assert.equal(
    verifyToken(key, renamed, () => 'stamp-1'),
    undefined,
    'another operator named',
  );
  assert.equal(
    verifyToken(key, 'short', () => 'stamp-1'),
    undefined,
  );
  assert.equal(csrfOf(key, token), csrfOf(sessionSigningKey('0123456789abcdef-secret'), token));
});

function session(address: string, auth: { token?: string; cookie?: string }) {
  return request<{ operator: string; csrf: string }>(address, 'GET', 'session', undefined, auth);
}

test('API sessions survive failover and failback; a logout on one server holds on the other', async () => {
  const a = await login(primary.address, 'ops', PASSWORD);
  const b = await login(primary.address, 'ops', PASSWORD);
  assert.equal((await session(primary.address, { token: a.token })).status, 200);

  // The primary dies: the secondary takes over and knows the session it never saw made.
  await cluster.kill9(primary);
  await cluster.waitHealth(secondary, (h) => h.acting, 'acting after the primary died');
  const byToken = await session(secondary.address, { token: a.token });
  assert.equal(byToken.status, 200, byToken.text);
  assert.equal(byToken.body.operator, 'ops');
  assert.equal(byToken.body.csrf, a.csrf, 'the console keeps its CSRF token');
  const byCookie = await session(secondary.address, { cookie: a.cookie });
  assert.equal(byCookie.status, 200, byCookie.text);
  // A change made with the cookie and the CSRF token from the login on the primary.
  const change = await request(
    secondary.address,
    'PUT',
    'settings/heartbeat',
    { value: 1 },
    {
      cookie: a.cookie,
      csrf: a.csrf,
    },
  );
  assert.ok(change.status < 300, `${change.status} ${change.text}`);

  // Logged out on the acting secondary ...
  assert.equal((await request(secondary.address, 'POST', 'logout', undefined, { token: b.token })).status, 204);
  assert.equal((await session(secondary.address, { token: b.token })).status, 401);

  // ... and the primary, back, honours that; the other session holds there too.
  await cluster.start(primary);
  await primary.proc!.waitForMsg('took the primary role back', 30_000);
  await cluster.waitHealth(primary, (h) => h.acting, 'acting again');
  assert.equal((await session(primary.address, { token: a.token })).status, 200);
  assert.equal((await session(primary.address, { cookie: a.cookie })).status, 200);
  assert.equal((await session(primary.address, { token: b.token })).status, 401, 'logged out on the secondary');

  // Logged out on the primary: the secondary, acting once more, refuses it.
  assert.equal(
    (await request(primary.address, 'POST', 'logout', undefined, { cookie: a.cookie, csrf: a.csrf })).status,
    204,
  );
  await cluster.waitHealth(secondary, (h) => !h.acting, 'stepped down');
  const c = await login(primary.address, 'ops', PASSWORD);
  // The logout is a configuration change: the secondary has it once it serves the primary's version.
  const version = await configVersionServed(primary.address);
  await waitFor(async () => (await configVersionServed(secondary.address)) === version, 'the logout replicated');
  await cluster.kill9(primary);
  await cluster.waitHealth(secondary, (h) => h.acting, 'acting after the second failover');
  assert.equal((await session(secondary.address, { token: a.token })).status, 401, 'logged out on the primary');
  assert.equal((await session(secondary.address, { token: c.token })).status, 200, 'a later login still holds');
});
