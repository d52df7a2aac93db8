/**
 * Revocation on the secondary that took over: API sessions are never replicated (the secondary
 * holds none of the primary's tokens), and a removal made on the acting secondary closes the
 * operator's control channels there and ends its tokens, as on a primary. Real processes.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ControlClient } from '../src/control/controlClient.js';
import { ErrorCodes, type SwitchboardError } from '../src/protocol/errors.js';
import { addOperator, login, request } from './helpers/api.js';
import { cliOk, FailoverCluster, KEY } from './helpers/failover.js';
import { waitFor } from './helpers/harness.js';

const cluster = new FailoverCluster({ subnet: '127.0.57', members: 0, heartbeat: 1 });

before(async () => {
  await cluster.configure();
  await addOperator(cluster.primary.data, 'root', 'root-password-1', 'admin');
  await addOperator(cluster.primary.data, 'ops', 'ops-password-1', 'admin');
  await cluster.startAll();
  // The secondary holds the operators (replicated) before the primary goes.
  await waitFor(
    async () =>
      (await cliOk(['config', '--data', cluster.secondary.data, 'operator', 'list', '--json'])).stdout.includes(
        '"ops"',
      ),
    'operators on the secondary',
    30_000,
    300,
  );
});

after(() => cluster.cleanup());

test("the acting secondary honours the primary's token until a removal there ends the operator's channel and tokens", async () => {
  const primaryToken = (await login(cluster.primary.address, 'ops', 'ops-password-1')).token;
  await cluster.kill9(cluster.primary);
  await cluster.waitHealth(cluster.secondary, (h) => h.acting, 'acting', 60_000);

  const stale = await request(cluster.secondary.address, 'GET', 'session', undefined, { token: primaryToken });
  // Issue 20: tokens are signed for the cluster, so a login survives the failover.
  assert.equal(stale.status, 200, "the primary's token holds on the acting secondary");

  const ops = await login(cluster.secondary.address, 'ops', 'ops-password-1');
  const control = await ControlClient.connect({
    gateway: cluster.primary.address,
    secondary: cluster.secondary.address,
    key: KEY,
    operator: 'ops',
    password: 'ops-password-1',
    dial: { tls: false },
  });
  const closed = new Promise<Error>((resolve) => control.onClosed(resolve));
  const root = await login(cluster.secondary.address, 'root', 'root-password-1');
  const removed = await request(cluster.secondary.address, 'DELETE', 'operators/ops', undefined, { token: root.token });
  assert.equal(removed.status, 204, removed.text);

  const why = (await Promise.race([
    closed,
    new Promise((r) => setTimeout(() => r(new Error('still open')), 10_000)),
  ])) as SwitchboardError;
  assert.equal(why.code, ErrorCodes.OPERATOR_REVOKED, why.message);
  assert.equal(
    (await request(cluster.secondary.address, 'GET', 'session', undefined, { token: ops.token })).status,
    401,
  );
  assert.equal(
    (await request(cluster.secondary.address, 'GET', 'session', undefined, { token: primaryToken })).status,
    401,
    "the removal ends the primary's token too",
  );
});
