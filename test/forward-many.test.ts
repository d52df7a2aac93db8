/**
 * One `control forward` carries as many connections at once as its client takes (256), not one
 * control's budget (64): past 64 it opens another control connection with the same login, up to
 * four (src/control/controlPool.ts). Real processes: a server, a client allowed to reach a TCP echo
 * service, a `control forward` logged in as an operator with a password. Past 256 a connection is
 * closed unanswered and the forward says why on stderr; the 256 it holds, and other controls, go on.
 */
import assert from 'node:assert/strict';
import type net from 'node:net';
import { after, before, test } from 'node:test';
import { MAX_CONTROLS_PER_FORWARD, SESSIONS_PER_CONTROL } from '../src/control/controlPool.js';
import { addOperator, enrolTotp, login, request, seriesValue, unusedTotp } from './helpers/api.js';
import { addKey, Proc, startServer, tempDir, waitFor, type RunningServer } from './helpers/harness.js';
import {
  connectTcp,
  echoRoundTrip,
  echoService,
  readAll,
  startForwardProc,
  startForwardingClient,
  stopAll,
  type Service,
} from './helpers/sb.js';

const dir = tempDir('sb-forward-many-');
const procs: Proc[] = [];
const OPS = { operator: 'ops', password: 'forward-many-password-1' };
const TOTP_OPS = { operator: 'totp-ops', password: 'forward-many-password-2' };
let totpSecret: string;
const MOST = MAX_CONTROLS_PER_FORWARD * SESSIONS_PER_CONTROL;
/** A guard against a hang, not a timing assertion: 256 sessions set up on a loaded 2-core machine. */
const ECHO_WAIT_MS = 120_000;
let server: RunningServer;
let key: string;
let echo: Service;
let forward: Proc;
let port: number;
const held: net.Socket[] = [];

before(async () => {
  server = await startServer(`${dir.path}/data`);
  procs.push(server.proc);
  key = await addKey(server.data, 'default');
  await addOperator(server.data, OPS.operator, OPS.password, 'operator', ['default']);
  await addOperator(server.data, TOTP_OPS.operator, TOTP_OPS.password, 'operator', ['default']);
  totpSecret = await enrolTotp(server.data, TOTP_OPS.operator);
  echo = await echoService();
  procs.push(await startForwardingClient(server.address, key, 'box', `${dir.path}/box`, [echo.port]));
  ({ proc: forward, port } = await startForwardProc(server.address, key, 'box', echo.port, OPS));
  procs.push(forward);
});

after(async () => {
  for (const s of held) s.destroy();
  await stopAll(procs);
  await echo?.close();
  dir.remove();
});

/** Opens `n` connections through a forward (by default the first), all at once, and has each echo a line of its own. */
async function openEchoing(n: number, tag: string, to = port): Promise<net.Socket[]> {
  const sockets = await Promise.all(Array.from({ length: n }, () => connectTcp(to)));
  held.push(...sockets);
  const lines = sockets.map((_, i) => `${tag}-${i}\n`);
  const echoed = await Promise.all(sockets.map((s, i) => echoRoundTrip(s, lines[i]!, ECHO_WAIT_MS)));
  assert.deepEqual(echoed, lines, 'every connection echoes its own line');
  return sockets;
}

/** Until the server holds no session: one ends there a moment after its socket closed here. */
async function sessionsEnded(): Promise<void> {
  await waitFor(
    async () =>
      seriesValue((await request(server.address, 'GET', '/metrics')).text, 'switchboard_sessions_active') === 0,
    'no session active on the server',
    ECHO_WAIT_MS,
  );
}

function closeAll(sockets: net.Socket[]): Promise<void> {
  return Promise.all(
    sockets.map((s) => {
      const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
      s.destroy();
      return closed;
    }),
  ).then(() => undefined);
}

test('100 connections at once through one forward: every one echoes', async () => {
  const sockets = await openEchoing(100, 'hundred');
  // Still all there, a second round each, side by side.
  const again = await Promise.all(sockets.map((s, i) => echoRoundTrip(s, `again-${i}\n`, ECHO_WAIT_MS)));
  assert.deepEqual(
    again,
    sockets.map((_, i) => `again-${i}\n`),
  );
  assert.equal(forward.stderr, '', 'no session failed');
  await closeAll(sockets);
});

test(`past ${MOST} at once a connection is closed unanswered, says why, and harms nothing else`, async () => {
  await sessionsEnded();
  const sockets = await openEchoing(MOST, 'full');
  const stderrBefore = forward.stderr.length;

  const extra = await connectTcp(port);
  const heard = readAll(extra);
  extra.write('one too many\n');
  assert.equal((await heard).length, 0, 'nothing came back: it never reached the service');
  await waitFor(() => forward.stderr.slice(stderrBefore).includes('failed'), 'the forward says why', ECHO_WAIT_MS);
  assert.match(
    forward.stderr.slice(stderrBefore),
    new RegExp(
      `session to box:${echo.port} failed: this forward holds ${MOST} sessions at once, its most \\(${MOST}, ${MAX_CONTROLS_PER_FORWARD} control connections of ${SESSIONS_PER_CONTROL} each\\); close some first\\n$`,
    ),
  );

  // The ones it holds go on.
  const echoed = await Promise.all(sockets.map((s, i) => echoRoundTrip(s, `still-${i}\n`, ECHO_WAIT_MS)));
  assert.equal(echoed.filter((e, i) => e === `still-${i}\n`).length, MOST);
  // Room made, a new connection is carried again.
  await closeAll(sockets.splice(0, 8));
  const [fresh] = await openEchoing(1, 'fresh').catch((err: Error) => {
    throw new Error(`${err.message}; forward's stderr: ${forward.stderr.slice(stderrBefore)}`);
  });
  // The forward is still up, and the server still serves its other clients' controls.
  assert.equal(forward.child.exitCode, null);
  const other = await startForwardProc(server.address, key, 'box', echo.port, OPS);
  procs.push(other.proc);
  await closeAll([fresh!, ...sockets]);
  await sessionsEnded();
  const s = await connectTcp(other.port);
  held.push(s);
  assert.equal(await echoRoundTrip(s, 'other forward\n', ECHO_WAIT_MS), 'other forward\n');
  await closeAll([s]);
});

test('logged in with a TOTP code, a forward keeps one control: past 64 a refusal that says why, and no lockout', async () => {
  await sessionsEnded();
  const totpForward = new Proc(
    [
      'control',
      '--gateway',
      server.address,
      '--key',
      key,
      '--operator',
      TOTP_OPS.operator,
      '--password-env',
      'SB_TEST_PASSWORD',
      '--totp',
      await unusedTotp(totpSecret),
      'forward',
      'box',
      `0:${echo.port}`,
    ],
    { SB_TEST_PASSWORD: TOTP_OPS.password },
  );
  procs.push(totpForward);
  const totpPort = Number(
    String((await totpForward.waitForMsg('forwarding')).listen)
      .split(':')
      .pop(),
  );
  const sockets = await openEchoing(SESSIONS_PER_CONTROL, 'totp', totpPort);

  const extra = await connectTcp(totpPort);
  const heard = readAll(extra);
  extra.write('one too many\n');
  assert.equal((await heard).length, 0);
  await waitFor(() => totpForward.stderr.includes('failed'), 'the forward says why', ECHO_WAIT_MS);
  assert.match(
    totpForward.stderr,
    /this forward holds 64 sessions at once, its most \(64, one control connection: a TOTP code logs in once; `control --profile NAME login` lets a forward open more\); close some first/,
  );
  // It never tried a second login with the used code (refused, it would count toward the lockout).
  const metrics = (await request(server.address, 'GET', '/metrics')).text;
  assert.equal(seriesValue(metrics, 'switchboard_refusals_total{reason="control_bad_login"}') ?? 0, 0);
  const again = await login(server.address, TOTP_OPS.operator, TOTP_OPS.password, await unusedTotp(totpSecret));
  assert.equal(again.role, 'operator');
  await closeAll(sockets);
});
