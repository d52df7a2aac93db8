/**
 * A revoked operator keeps nothing: after it is removed, or its password or TOTP change (offline
 * with `config --data` while the server runs, or through the API), its running `control forward`
 * stops and says why, its control channels are closed with OPERATOR_REVOKED, and its API tokens
 * answer 401. A control channel whose key the operator may no longer use is closed too. Real server, client and forward processes.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CloseCodes } from '../src/protocol/closeCodes.js';
import { addOperator, enrolTotp, login, request } from './helpers/api.js';
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
  connectTcp,
  echoRoundTrip,
  echoService,
  freePort,
  rawControl,
  rawHttp,
  rawRequest,
  sessionUpgradeRequest,
  stopAll,
  type Service,
} from './helpers/sb.js';

const dir = tempDir('sb-revoke-');
const procs: Proc[] = [];
let server: RunningServer;
let key: string;
let echo: Service;
let adminToken: string;

/** Generous: the server sees an offline change within a poll (250 ms); "within seconds". */
const WITHIN_MS = 10_000;

before(async () => {
  server = await startServer(`${dir.path}/data`);
  procs.push(server.proc);
  key = await addKey(server.data, 'k');
  echo = await echoService();
  procs.push(
    await startClient([
      '--gateway',
      server.address,
      '--key',
      key,
      '--name',
      'box',
      '--state',
      `${dir.path}/box`,
      '--allow-forward',
      String(echo.port),
    ]),
  );
  await addOperator(server.data, 'root', 'root-password-1', 'admin');
  adminToken = (
    await waitFor(
      () => login(server.address, 'root', 'root-password-1').catch(() => undefined),
      'the operators to be in force',
    )
  ).token;
});

after(async () => {
  await stopAll(procs);
  await echo.close();
  dir.remove();
});

function config(args: string[], env: NodeJS.ProcessEnv = {}) {
  return runCli(['config', '--data', server.data, ...args], { env });
}

test('a running forward stops, saying why, within seconds of its operator being removed offline', async () => {
  await addOperator(server.data, 'fwd', 'fwd-password-1', 'operator', ['k']);
  const proc = new Proc(
    [
      'control',
      '--gateway',
      server.address,
      '--key',
      key,
      '--operator',
      'fwd',
      '--password-env',
      'PW',
      'forward',
      'box',
      `0:${echo.port}`,
    ],
    { PW: 'fwd-password-1' },
  );
  procs.push(proc);
  const port = Number(
    String((await proc.waitForMsg('forwarding')).listen)
      .split(':')
      .pop(),
  );
  const before = await connectTcp(port);
  assert.equal(await echoRoundTrip(before, 'hello'), 'hello');
  before.destroy();

  assert.equal((await config(['operator', 'remove', 'fwd'])).code, 0);
  const code = await Promise.race([proc.exited, new Promise((r) => setTimeout(() => r('still running'), WITHIN_MS))]);
  assert.equal(code, 1, `the forward should have stopped; stderr: ${proc.stderr}`);
  assert.match(proc.stderr, /forward stopped: .*operator fwd was removed/);
  // Nothing listens for it any more: a new local connection is refused, not relayed.
  await assert.rejects(connectTcp(port));
  const audit = await request(server.address, 'GET', 'audit?limit=50', undefined, { token: adminToken });
  assert.ok(
    audit.body.some((e: { action: string; actor: string }) => e.action === 'control.revoked' && e.actor === 'fwd'),
  );
});

test('a forward whose password changed offline stops too, saying why', async () => {
  await addOperator(server.data, 'fwd2', 'fwd2-password-1', 'operator', ['k']);
  const proc = new Proc(
    [
      'control',
      '--gateway',
      server.address,
      '--key',
      key,
      '--operator',
      'fwd2',
      '--password-env',
      'PW',
      'forward',
      'box',
      `0:${echo.port}`,
    ],
    { PW: 'fwd2-password-1' },
  );
  procs.push(proc);
  const port = Number(
    String((await proc.waitForMsg('forwarding')).listen)
      .split(':')
      .pop(),
  );
  // `operator add` of an existing name replaces its password.
  assert.equal(
    (
      await config(['operator', 'add', 'fwd2', '--role', 'operator', '--keys', 'k', '--password-env', 'PW'], {
        PW: 'fwd2-password-2',
      })
    ).code,
    0,
  );
  const code = await Promise.race([proc.exited, new Promise((r) => setTimeout(() => r('still running'), WITHIN_MS))]);
  assert.equal(code, 1, `the forward should have stopped; stderr: ${proc.stderr}`);
  assert.match(proc.stderr, /forward stopped: .*fwd2's password or TOTP changed/);
  await assert.rejects(connectTcp(port));
});

test('a control channel is closed when its operator is removed (its unclaimed session withdrawn), or when its keys change', async () => {
  await addOperator(server.data, 'ctl', 'ctl-password-1', 'admin');
  await addOperator(server.data, 'ctl2', 'ctl2-password-1', 'operator', ['k']);
  const removed = await rawControl(server.address, key, { operator: 'ctl', password: 'ctl-password-1' });
  await removed.next('ready');
  const rescoped = await rawControl(server.address, key, { operator: 'ctl2', password: 'ctl2-password-1' });
  await rescoped.next('ready');
  assert.ok((await rawRequest(rescoped, 1, 'browse', {})).result);

  // A session opened but not yet claimed when the operator goes.
  const opened = await rawRequest(removed, 1, 'open', { client: 'box', target: { kind: 'forward', port: echo.port } });
  const ticket = (opened.result as { ticket: string }).ticket;
  assert.ok(ticket, JSON.stringify(opened));

  assert.equal((await config(['operator', 'remove', 'ctl'])).code, 0);
  const closed = await removed.closeResult(WITHIN_MS);
  assert.equal(closed.code, CloseCodes.OPERATOR_REVOKED);
  assert.match(closed.reason, /operator ctl was removed/);
  const claim = await rawHttp(server.address, sessionUpgradeRequest(server.address, ticket));
  assert.equal(claim.status, 404, 'the unclaimed session went with the channel');
  claim.socket.destroy();

  // Keys that no longer include the channel's (here through the API, by an admin) end it as well.
  const changed = await request(server.address, 'PUT', 'operators/ctl2', { keys: [] }, { token: adminToken });
  assert.equal(changed.status, 200, changed.text);
  const closed2 = await rescoped.closeResult(WITHIN_MS);
  assert.equal(closed2.code, CloseCodes.OPERATOR_REVOKED);
});

test('an API token stops working after an offline password change or TOTP enrolment; an admin changing its own password keeps its session', async () => {
  await addOperator(server.data, 'api1', 'api1-password-1', 'operator', ['k']);
  await addOperator(server.data, 'api2', 'api2-password-1', 'operator', ['k']);
  const one = await login(server.address, 'api1', 'api1-password-1');
  const two = await login(server.address, 'api2', 'api2-password-1');
  assert.equal((await request(server.address, 'GET', 'session', undefined, { token: one.token })).status, 200);
  assert.equal((await request(server.address, 'GET', 'clients', undefined, { token: two.token })).status, 200);

  const from = server.proc.lines.length;
  assert.equal(
    (
      await config(['operator', 'add', 'api1', '--role', 'operator', '--keys', 'k', '--password-env', 'PW'], {
        PW: 'api1-password-2',
      })
    ).code,
    0,
  );
  // The server's sweep ends the idle token first; used after, it is told why, not "unknown".
  await server.proc.waitForLine(
    (l) => l.msg === 'api sessions of revoked operators ended',
    'the sweep',
    WITHIN_MS,
    from,
  );
  for (let use = 0; use < 2; use++) {
    const after1 = await request(server.address, 'GET', 'session', undefined, { token: one.token });
    assert.equal(after1.status, 401, after1.text);
    assert.match(after1.body.error.message, /api1's password or TOTP changed/);
  }

  await enrolTotp(server.data, 'api2');
  assert.equal((await request(server.address, 'GET', 'clients', undefined, { token: two.token })).status, 401);

  const self = await request(
    server.address,
    'PUT',
    'operators/root',
    { password: 'root-password-2' },
    { token: adminToken },
  );
  assert.equal(self.status, 200, self.text);
  assert.equal(
    (await request(server.address, 'GET', 'session', undefined, { token: adminToken })).status,
    200,
    'the session that made the change goes on',
  );
  // Another session of the same admin ends.
  const other = await login(server.address, 'root', 'root-password-2');
  const again = await request(
    server.address,
    'PUT',
    'operators/root',
    { password: 'root-password-3' },
    { token: adminToken },
  );
  assert.equal(again.status, 200, again.text);
  assert.equal((await request(server.address, 'GET', 'session', undefined, { token: other.token })).status, 401);
});

test('a forward that must log in again after its server restarted, and whose password changed meanwhile, stops instead of retrying', async () => {
  const port = await freePort();
  const own = await startServer(`${dir.path}/restart`, [], {}, `127.0.0.1:${port}`);
  procs.push(own.proc);
  const ownKey = await addKey(own.data, 'k');
  await addOperator(own.data, 'fwd3', 'fwd3-password-1', 'admin');
  procs.push(
    await startClient([
      '--gateway',
      own.address,
      '--key',
      ownKey,
      '--name',
      'box3',
      '--state',
      `${dir.path}/box3`,
      '--allow-forward',
      String(echo.port),
    ]),
  );
  const proc = new Proc(
    [
      'control',
      '--gateway',
      own.address,
      '--key',
      ownKey,
      '--operator',
      'fwd3',
      '--password-env',
      'PW',
      'forward',
      'box3',
      `0:${echo.port}`,
    ],
    { PW: 'fwd3-password-1' },
  );
  procs.push(proc);
  const local = Number(
    String((await proc.waitForMsg('forwarding')).listen)
      .split(':')
      .pop(),
  );

  // The server goes away (the forward's channel closes: it will dial again when asked), the
  // password is changed while it is down, and it comes back on the same address.
  await stopAll([own.proc]);
  assert.equal(
    (
      await runCli(
        ['config', '--data', own.data, 'operator', 'add', 'fwd3', '--role', 'admin', '--password-env', 'PW'],
        { env: { PW: 'fwd3-password-2' } },
      )
    ).code,
    0,
  );
  const again = await startServer(own.data, [], {}, `127.0.0.1:${port}`);
  procs.push(again.proc);

  // The next local connection makes it log in again: refused for good, so it stops and says why.
  const socket = await connectTcp(local).catch(() => undefined);
  socket?.on('error', () => undefined);
  const code = await Promise.race([proc.exited, new Promise((r) => setTimeout(() => r('still running'), WITHIN_MS))]);
  socket?.destroy();
  assert.equal(code, 1, `the forward should have stopped; stderr: ${proc.stderr}`);
  assert.match(proc.stderr, /forward stopped: .*wrong operator name or password/);
});

test('a control logged in with a key alone, while no operator existed, is closed once one exists', async () => {
  const own = await startServer(`${dir.path}/keyonly`);
  procs.push(own.proc);
  const ownKey = await addKey(own.data, 'k');
  // The key is in force once a control proving it is let in.
  const control = await waitFor(async () => {
    const peer = await rawControl(own.address, ownKey);
    return await peer.next('ready').then(
      () => peer,
      () => undefined,
    );
  }, 'the key to be in force');
  await addOperator(own.data, 'first', 'first-password-1', 'admin');
  const closed = await control.closeResult(WITHIN_MS);
  assert.equal(closed.code, CloseCodes.OPERATOR_REVOKED);
  assert.match(closed.reason, /operators now exist/);
  await stopAll([own.proc]);
});
