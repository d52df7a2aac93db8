/**
 * Sessions by kind: each operator has a limit per kind over all of its control channels and the
 * API together (`--session-limit`), refused clearly, with other kinds and other operators untouched;
 * and a session the server reads itself (the API's exec) counts among the active sessions of the
 * Servers tab and is audited like any other (operator, client, kind, bytes, duration).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { after, before, test } from 'node:test';
import type { ControlClient } from '../src/control/controlClient.js';
import { OperatorSessions, parseKindLimits } from '../src/server/sessionBudget.js';
import { addOperator, login, request, type LoggedIn } from './helpers/api.js';
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
import { connectControl, echoRoundTrip, echoService, stopAll, type Service } from './helpers/sb.js';

const dir = tempDir('sb-kinds-');
const procs: Proc[] = [];
const OPS = { operator: 'ops', password: 'ops-password-1' };
const OPS2 = { operator: 'ops2', password: 'ops2-password-1' };
let server: RunningServer;
let key: string;
let echo: Service;
let admin: LoggedIn;

test('OperatorSessions: a limit per operator and kind, given back once, nothing kept for an idle operator', () => {
  const sessions = new OperatorSessions({ shell: 2 }, 3);
  const a = sessions.take('ops', 'shell');
  sessions.take('ops', 'shell');
  assert.throws(
    () => sessions.take('ops', 'shell'),
    (err: Error & { code?: string }) =>
      err.code === 'SB_ERR_TOO_MANY_SESSIONS' &&
      err.message === 'operator ops has 2 shell sessions open (at most 2 per operator): close one first',
  );
  sessions.take('other', 'shell'); // another operator
  sessions.take('ops', 'desktop'); // another kind, with the fallback limit
  a();
  a(); // twice gives back one place only
  assert.equal(sessions.count('ops', 'shell'), 1);
  sessions.take('ops', 'shell');
  assert.throws(() => sessions.take('ops', 'shell'), /at most 2/);
  for (let i = 0; i < 2; i++) sessions.take('ops', 'desktop');
  assert.throws(() => sessions.take('ops', 'desktop'), /at most 3 per operator/);
  const idle = new OperatorSessions();
  idle.take('gone', 'exec')();
  assert.equal((idle as unknown as { held: Map<string, unknown> }).held.size, 0);
  assert.deepEqual(parseKindLimits('exec=2, shell=4'), { exec: 2, shell: 4 });
  for (const bad of ['exec', 'exec=0', 'exec=-1', 'EXEC=2', 'exec=2x', '__proto__=3'])
    assert.throws(() => parseKindLimits(bad), /--session-limit takes KIND=N/);
});

before(async () => {
  server = await startServer(`${dir.path}/data`, ['--session-limit', 'exec=2']);
  procs.push(server.proc);
  key = await addKey(server.data, 'default');
  await addOperator(server.data, OPS.operator, OPS.password, 'operator', ['default']);
  await addOperator(server.data, OPS2.operator, OPS2.password, 'operator', ['default']);
  await addOperator(server.data, 'admin', 'admin-password-1', 'admin');
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
      '--allow-exec',
      '--allow-forward',
      String(echo.port),
    ]),
  );
  admin = await login(server.address, 'admin', 'admin-password-1');
});

after(async () => {
  await stopAll(procs);
  await echo?.close();
  dir.remove();
});

const activeSessions = async () =>
  (
    (await request(server.address, 'GET', 'servers', undefined, { token: admin.token })).body as { sessions: number }[]
  )[0]!.sessions;

test('a bad --session-limit stops the server before it starts, saying why', async () => {
  const result = await runCli([
    'server',
    '--data',
    `${dir.path}/bad`,
    '--listen',
    '127.0.0.1:0',
    '--session-limit',
    'exec=0',
  ]);
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /--session-limit takes KIND=N/);
});

test("an operator's exec limit holds over its channels and the API; other kinds and operators go on", async () => {
  const [a, b, other] = [
    await connectControl(server.address, key, OPS),
    await connectControl(server.address, key, OPS),
    await connectControl(server.address, key, OPS2),
  ];
  const held: Duplex[] = [];
  try {
    // Two running commands, from two channels: the operator's limit, not a channel's, is reached.
    for (const control of [a, b]) {
      const socket = await control.open('box', { kind: 'exec', command: ['sleep', '60'] });
      socket.on('error', () => undefined);
      held.push(socket);
    }
    await assert.rejects(
      a.open('box', { kind: 'exec', command: ['true'] }),
      (err: Error & { code?: string }) =>
        err.code === 'SB_ERR_TOO_MANY_SESSIONS' &&
        /operator ops has 2 exec sessions open \(at most 2 per operator\)/.test(err.message),
    );
    const api = await login(server.address, OPS.operator, OPS.password);
    const refused = await request(server.address, 'POST', 'exec', { client: 'box', command: ['true'] }, api);
    assert.equal(refused.status, 429, refused.text);
    assert.equal(refused.body.error.code, 'SB_ERR_TOO_MANY_SESSIONS');
    // Another kind for the same operator, and the same kind for another operator, still open.
    const forward = await a.open('box', { kind: 'forward', port: echo.port });
    assert.equal(await echoRoundTrip(forward as never, 'other kind'), 'other kind');
    forward.destroy();
    const theirs = await other.open('box', { kind: 'exec', command: ['true'] });
    theirs.on('error', () => undefined);
    theirs.destroy();
    // A command that ends gives its place back.
    held.shift()!.destroy();
    const again = await waitFor(
      () => a.open('box', { kind: 'exec', command: ['sleep', '60'] }).catch(() => undefined),
      'room for an exec once one ended',
      15_000,
      200,
    );
    again.on('error', () => undefined);
    held.push(again);
  } finally {
    held.forEach((s) => s.destroy());
    [a, b, other].forEach((c: ControlClient) => c.close());
  }
  await waitFor(async () => (await activeSessions()) === 0, 'every session closed', 15_000, 200);
});

test("the API's exec counts among the active sessions and is audited with its kind, bytes and duration", async () => {
  const gate = `${dir.path}/gate`;
  const answer = request(
    server.address,
    'POST',
    'exec',
    { client: 'box', command: ['sh', '-c', `echo started; while [ ! -f ${gate} ]; do sleep 0.1; done; echo done`] },
    { token: admin.token },
  );
  await waitFor(async () => (await activeSessions()) === 1, 'the API exec to count as an active session', 15_000, 200);
  writeFileSync(gate, '');
  const reply = await answer;
  assert.equal(reply.status, 200, reply.text);
  assert.equal(reply.body.stdout, 'started\ndone\n');
  await waitFor(async () => (await activeSessions()) === 0, 'the session to end', 15_000, 200);
  const audit = (await request(server.address, 'GET', 'audit?limit=50', undefined, { token: admin.token })).body as {
    actor: string;
    action: string;
    detail: {
      kind?: string;
      clientName?: string;
      bytesFromClient?: number;
      bytesToClient?: number;
      durationMs?: number;
    };
  }[];
  const closed = audit.find((r) => r.action === 'session.closed' && r.actor === 'admin');
  assert.ok(closed, JSON.stringify(audit.slice(0, 5)));
  assert.equal(closed.detail.kind, 'exec');
  assert.equal(closed.detail.clientName, 'box');
  assert.ok((closed.detail.bytesFromClient ?? 0) >= 'started\ndone\n'.length, JSON.stringify(closed.detail));
  assert.ok((closed.detail.bytesToClient ?? 0) > 0, 'the end-of-stdin frame went to the client');
  assert.equal(typeof closed.detail.durationMs, 'number');
  // Forward sessions of the control channel carry their kind too.
  assert.ok(audit.some((r) => r.action === 'session.closed' && r.actor === 'ops' && r.detail.kind === 'forward'));
});
