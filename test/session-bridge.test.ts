/**
 * Issue 19: the server's bridge from a console page's WebSocket to a relayed session
 * (/api/v1/bridge), driven with a real WebSocket client against a real server and clients: a
 * terminal through it, audited with its operator, bytes and duration and counted in the active
 * sessions; refused without a login, from another origin, for a bad target, and by the client's own
 * policy (with the reason in the close frame); bounded by the operator's session budget; and ended
 * when the operator logs out.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { encodeResize, encodeShellInput, ShellChannel, ShellFrameDecoder } from '../src/protocol/shellFrames.js';
import { addOperator, login, request, type LoggedIn } from './helpers/api.js';
import { startTrackedServer } from './helpers/external.js';
import { addKey, Proc, tempDir, waitFor, type RunningServer } from './helpers/harness.js';
import { echoService, stopAll, type Service } from './helpers/sb.js';

const dir = tempDir('sb-bridge-');
const procs: Proc[] = [];
let server: RunningServer;
let admin: LoggedIn;
let echo: Service;

function bridge(
  query: string,
  headers: Record<string, string> = { cookie: admin.cookie, origin: `http://${server.address}` },
): WebSocket {
  return new WebSocket(`ws://${server.address}/api/v1/bridge?${query}`, { headers });
}

function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

/** Resolves when the bridge opens; a bridge closed or refused first fails the test (never hangs it). */
function opened(ws: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('close', (code, reason) =>
      reject(new Error(`the bridge closed before opening: ${code} ${reason.toString()}`)),
    );
    ws.once('unexpected-response', (_req, res) => reject(new Error(`the upgrade was refused: ${res.statusCode}`)));
  });
}

function refusedUpgrade(ws: WebSocket): Promise<number> {
  return new Promise((resolve, reject) => {
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.once('open', () => reject(new Error('the upgrade was accepted')));
    ws.once('error', () => undefined);
  });
}

async function client(name: string, args: string[]): Promise<void> {
  const proc = new Proc(
    ['client', '--gateway', server.address, '--key', key, '--name', name, '--state', join(dir.path, name), ...args],
    { SHELL: '/bin/sh' },
  );
  procs.push(proc);
  await proc.waitForLine((l) => l.status === 'connected', `${name} connected`);
}

let key: string;

before(async () => {
  server = await startTrackedServer(procs, join(dir.path, 'data'));
  key = await addKey(server.data, 'default');
  await addOperator(server.data, 'admin', 'admin-password', 'admin');
  admin = await login(server.address, 'admin', 'admin-password');
  echo = await echoService();
  await client('shell-box', ['--allow-shell', '--allow-forward', String(echo.port)]);
  await client('plain-box', ['--allow-forward', String(echo.port)]);
});

after(async () => {
  await stopAll(procs);
  await echo.close();
  dir.remove();
});

test(
  'a terminal through the bridge: output, resize, exit; counted while open, audited when closed',
  { timeout: 90_000 },
  async () => {
    const ws = bridge('client=shell-box&kind=shell&cols=80&rows=24');
    const decoder = ShellFrameDecoder.fromClient();
    let screen = '';
    let exit: unknown;
    ws.on('message', (data: Buffer) => {
      for (const frame of decoder.push(data)) {
        if (frame.channel === ShellChannel.output) screen += frame.data.toString();
        else if (frame.channel === ShellChannel.exit) exit = frame.exit;
      }
    });
    const done = closed(ws);
    await opened(ws);
    ws.send(encodeShellInput(Buffer.from('echo "A$((6*7))B $(tput cols)"\n')));
    await waitFor(() => screen.includes('A42B 80'), `A42B 80; got ${JSON.stringify(screen)}`);
    const servers = await request(server.address, 'GET', 'servers', undefined, { token: admin.token });
    assert.equal(servers.body[0].sessions, 1, 'the bridged terminal is an active session');
    ws.send(encodeResize({ cols: 100, rows: 30 }));
    ws.send(encodeShellInput(Buffer.from('echo "C$(tput cols)D"\n')));
    await waitFor(() => screen.includes('C100D'), `C100D; got ${JSON.stringify(screen)}`);
    ws.send(encodeShellInput(Buffer.from('exit 4\n')));
    assert.equal((await done).code, 1000);
    assert.deepEqual(exit, { code: 4, signal: null });

    const entry = await waitFor(async () => {
      const audit = await request(server.address, 'GET', '/api/v1/audit?limit=50', undefined, { token: admin.token });
      return (audit.body as { actor: string; action: string; detail: Record<string, unknown> }[]).find(
        (e) => e.action === 'session.closed' && (e.detail.target as { kind: string }).kind === 'shell',
      );
    }, 'the shell session in the audit log');
    assert.equal(entry.actor, 'admin');
    assert.equal(entry.detail.clientName, 'shell-box');
    assert.ok(Number(entry.detail.bytesToClient) > 0 && Number(entry.detail.bytesFromClient) > 0, 'bytes counted');
    assert.ok(Number(entry.detail.durationMs) > 0);
  },
);

test(
  'without a login, or from another origin, the bridge refuses before any upgrade',
  { timeout: 90_000 },
  async () => {
    assert.equal(
      await refusedUpgrade(bridge('client=shell-box&kind=shell', { origin: `http://${server.address}` })),
      401,
    );
    assert.equal(
      await refusedUpgrade(
        bridge('client=shell-box&kind=shell', { cookie: admin.cookie, origin: 'http://evil.example' }),
      ),
      403,
    );
    assert.equal(await refusedUpgrade(bridge('client=shell-box&kind=shell', { cookie: admin.cookie })), 403);
    assert.equal(await refusedUpgrade(bridge('client=shell-box&kind=exec')), 400);
    assert.equal(await refusedUpgrade(bridge('client=shell-box&kind=forward&port=70000')), 400);
    // A bearer token is not ambient: a script may use one without an origin.
    const ws = bridge(`client=shell-box&kind=forward&port=${echo.port}`, { authorization: `Bearer ${admin.token}` });
    await opened(ws);
    ws.close();
  },
);

test("the client's own policy refuses, and the page hears why in the close frame", { timeout: 90_000 }, async () => {
  const shell = await closed(bridge('client=plain-box&kind=shell&cols=80&rows=24'));
  assert.equal(shell.code, 4040);
  assert.match(shell.reason, /^SB_ERR_POLICY_REFUSED: .*this client does not allow terminals/);
  const port = await closed(bridge('client=shell-box&kind=forward&port=1'));
  assert.equal(port.code, 4040);
  assert.match(port.reason, /^SB_ERR_POLICY_REFUSED: .*port 1 is not in this client's --allow-forward list/);
  const nobody = await closed(bridge('client=no-such-box&kind=shell'));
  assert.match(nobody.reason, /^SB_ERR_UNKNOWN_CLIENT/);
});

test("an operator's bridged sessions are bounded by its session budget", { timeout: 90_000 }, async () => {
  const open: WebSocket[] = [];
  for (let i = 0; i < 64; i++) {
    const ws = bridge(`client=shell-box&kind=forward&port=${echo.port}`);
    open.push(ws);
    await opened(ws);
  }
  // Each is a live session: the echo answers through it.
  const last = open.at(-1)!;
  const echoed = new Promise<string>((resolve) => last.once('message', (d: Buffer) => resolve(d.toString())));
  last.send(Buffer.from('ping'));
  assert.equal(await echoed, 'ping');
  const refused = await closed(bridge(`client=shell-box&kind=forward&port=${echo.port}`));
  assert.equal(refused.code, 4040);
  assert.match(refused.reason, /^SB_ERR_TOO_MANY_SESSIONS: operator admin has 64 sessions open/);
  await Promise.all(open.map((ws) => (ws.close(), closed(ws))));
  // Released: the next one opens.
  await waitFor(async () => {
    const ws = bridge(`client=shell-box&kind=forward&port=${echo.port}`);
    const outcome = await Promise.race([
      new Promise((resolve) => ws.once('open', () => resolve(true))),
      closed(ws).then(() => false),
    ]);
    ws.close();
    return outcome;
  }, 'a session once the others closed');
});

test('logging out ends a bridged session', { timeout: 90_000 }, async () => {
  const mine = await login(server.address, 'admin', 'admin-password');
  const ws = bridge(`client=shell-box&kind=forward&port=${echo.port}`, {
    cookie: mine.cookie,
    origin: `http://${server.address}`,
  });
  await opened(ws);
  const end = closed(ws);
  const out = await request(server.address, 'POST', 'logout', {}, { cookie: mine.cookie, csrf: mine.csrf });
  assert.ok(out.status < 300, out.text);
  const { code, reason } = await end;
  assert.equal(code, 4030);
  assert.match(reason, /log in again/);
});

test("an operator no longer given the client's key loses its bridged session", { timeout: 90_000 }, async () => {
  await addOperator(server.data, 'ops', 'ops-password', 'operator', ['default']);
  const ops = await login(server.address, 'ops', 'ops-password');
  const ws = bridge(`client=shell-box&kind=forward&port=${echo.port}`, {
    cookie: ops.cookie,
    origin: `http://${server.address}`,
  });
  await opened(ws);
  const end = closed(ws);
  const changed = await request(server.address, 'PUT', 'operators/ops', { keys: [] }, { token: admin.token });
  assert.equal(changed.status, 200, changed.text);
  const { code, reason } = await end;
  assert.equal(code, 4030);
  assert.match(reason, /operator ops may no longer reach clients of this key/);
});
