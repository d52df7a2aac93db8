/**
 * Issue 14, items 8, 9 and 13, with real processes: a command whose session ended is ended on the
 * client (and everything it started); sessions opened and never used are bounded per control, per
 * operator and per client, and the client bounds its own; a client's refusal cannot speak as the
 * server.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { after, before, test } from 'node:test';
import { WebSocketServer } from 'ws';
import { MAX_CLIENT_SESSIONS } from '../src/client/agent.js';
import type { ControlClient } from '../src/control/controlClient.js';
import { SESSION_UPGRADE } from '../src/net/dial.js';
import { CONTROL_SESSION_LIMITS, MAX_SESSIONS_PER_CLIENT } from '../src/server/sessionBudget.js';
import { addOperator, login, request, type LoggedIn } from './helpers/api.js';
import { Cluster } from './helpers/cluster.js';
import { addKey, Proc, startClient, startServer, tempDir, waitFor, type RunningServer } from './helpers/harness.js';
import {
  connectControl,
  echoRoundTrip,
  echoService,
  rawClient,
  rawControl,
  rawRequest,
  stopAll,
  type Service,
} from './helpers/sb.js';

const dir = tempDir('sb-sessions-');
const procs: Proc[] = [];
const services: Service[] = [];
const PW = 'ops-password';
const OPS = { operator: 'ops', password: PW };
let server: RunningServer;
let key: string;
let echo: Service;
let ops: LoggedIn;

before(async () => {
  server = await startServer(`${dir.path}/data`);
  procs.push(server.proc);
  key = await addKey(server.data, 'default');
  await addOperator(server.data, 'ops', PW, 'operator', ['default']);
  echo = await echoService();
  services.push(echo);
  for (const name of ['box', 'other-box', 'crowded']) {
    procs.push(
      await startClient([
        '--gateway',
        server.address,
        '--key',
        key,
        '--name',
        name,
        '--state',
        `${dir.path}/${name}`,
        '--allow-forward',
        String(echo.port),
        '--allow-exec',
      ]),
    );
  }
  ops = await login(server.address, 'ops', PW);
});

after(async () => {
  await stopAll(procs);
  await Promise.all(services.map((s) => s.close()));
  dir.remove();
});

/** A process that is still running: /proc has it and it is not a zombie waiting to be reaped. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** A command that starts a child and writes both pids ("shell sleep") to a file, then waits forever. */
function pidsCommand(file: string): string[] {
  return ['sh', '-c', `sleep 1000 & echo "$$ $!" > ${file}.tmp && mv ${file}.tmp ${file}; wait`];
}

async function pidsOf(file: string): Promise<number[]> {
  const text = await waitFor(
    () => existsSync(file) && readFileSync(file, 'utf8').trim(),
    `the command to write ${file}`,
    30_000,
  );
  const pids = text.split(/\s+/).map(Number);
  assert.equal(pids.length, 2);
  for (const pid of pids) assert.ok(running(pid), `pid ${pid} runs`);
  return pids;
}

async function allEnded(pids: number[], why: string): Promise<void> {
  await waitFor(
    () => pids.every((pid) => !running(pid)),
    `${why}: the command and its child to be ended (pids ${pids.join(', ')})`,
    30_000,
    200,
  );
}

// ---- item 8: a command ends with its session ------------------------------------------------------

test('exec: killing the control ends the command and its children on the client', async () => {
  const file = `${dir.path}/pids-killed`;
  const control = new Proc(
    [
      'control',
      '--gateway',
      server.address,
      '--key',
      key,
      '--operator',
      'ops',
      '--password-env',
      'SB_TEST_PASSWORD',
      'exec',
      'box',
      '--',
      ...pidsCommand(file),
    ],
    { SB_TEST_PASSWORD: PW },
  );
  procs.push(control);
  const pids = await pidsOf(file);
  control.child.kill('SIGKILL');
  await allEnded(pids, 'control killed');
});

test('exec: a ticket never claimed ends the command when it expires', async () => {
  const file = `${dir.path}/pids-unclaimed`;
  const peer = await rawControl(server.address, key, OPS);
  await peer.next('ready');
  const opened = await rawRequest(peer, 1, 'open', {
    client: 'box',
    target: { kind: 'exec', command: pidsCommand(file) },
  });
  assert.ok(opened.result, JSON.stringify(opened.error));
  const pids = await pidsOf(file);
  await allEnded(pids, 'ticket never claimed');
  peer.terminate();
});

test("exec: the API's timeoutMs ends the command, not only the answer", async () => {
  const file = `${dir.path}/pids-api`;
  const answer = request(
    server.address,
    'POST',
    'exec',
    // Long enough that the command has started and written its pids before the deadline, on a loaded machine.
    { client: 'box', command: pidsCommand(file), timeoutMs: 8000 },
    { token: ops.token },
  );
  const pids = await pidsOf(file);
  const reply = await answer;
  assert.equal(reply.status, 200, reply.text);
  assert.equal(reply.body.timedOut, true);
  await allEnded(pids, 'API deadline passed');
});

// ---- item 9: sessions are bounded ------------------------------------------------------------------

test('a control that opens sessions without claiming them is refused past its limit; another control still reaches the client', async () => {
  const peer = await rawControl(server.address, key, OPS);
  await peer.next('ready');
  const codes: string[] = [];
  // One after another: each open has finished (its ticket issued) before the next is asked for.
  for (let req = 1; req <= CONTROL_SESSION_LIMITS.unclaimed + 4; req++) {
    const answer = await rawRequest(peer, req, 'open', { client: 'box', target: { kind: 'forward', port: echo.port } });
    codes.push(answer.error?.code ?? 'ok');
  }
  assert.deepEqual(codes, [
    ...Array(CONTROL_SESSION_LIMITS.unclaimed).fill('ok'),
    ...Array(4).fill('SB_ERR_TOO_MANY_SESSIONS'),
  ]);
  const other = await connectControl(server.address, key, OPS);
  try {
    const socket = (await other.open('box', { kind: 'forward', port: echo.port })) as net.Socket;
    assert.equal(await echoRoundTrip(socket, 'still here'), 'still here');
    socket.destroy();
  } finally {
    other.close();
    peer.terminate();
  }
});

/** Opens `n` claimed sessions in batches; returns the sockets and the codes of the refusals. */
async function openMany(
  control: ControlClient,
  client: string,
  n: number,
): Promise<{ sockets: Duplex[]; refused: string[] }> {
  const sockets: Duplex[] = [];
  const refused: string[] = [];
  for (let at = 0; at < n; at += CONTROL_SESSION_LIMITS.unclaimed) {
    const batch = Array.from({ length: Math.min(CONTROL_SESSION_LIMITS.unclaimed, n - at) }, () =>
      control.open(client, { kind: 'forward', port: echo.port }),
    );
    for (const result of await Promise.allSettled(batch)) {
      if (result.status === 'fulfilled') {
        result.value.on('error', () => undefined); // torn down with its control at the end
        sockets.push(result.value);
      } else refused.push((result.reason as { code: string }).code);
    }
  }
  return { sockets, refused };
}

test('a control may hold only so many open sessions; closing some makes room', async () => {
  const control = await connectControl(server.address, key, OPS);
  try {
    const { sockets, refused } = await openMany(control, 'box', CONTROL_SESSION_LIMITS.open + 5);
    assert.equal(sockets.length, CONTROL_SESSION_LIMITS.open);
    assert.deepEqual(new Set(refused), new Set(['SB_ERR_TOO_MANY_SESSIONS']));
    sockets.splice(0, 4).forEach((s) => s.destroy());
    const again = await waitFor(
      () => control.open('box', { kind: 'forward', port: echo.port }).catch(() => undefined),
      'room for a session after closing some',
      15_000,
      200,
    );
    sockets.push(again);
    sockets.forEach((s) => s.destroy());
  } finally {
    control.close();
  }
});

test('a client holds only so many sessions, whoever opens them; other clients are not affected', async () => {
  // One after another: an account may have only two logins in flight at once (operatorAuth.ts).
  const controls: Awaited<ReturnType<typeof connectControl>>[] = [];
  for (let i = 0; i < Math.ceil(MAX_SESSIONS_PER_CLIENT / CONTROL_SESSION_LIMITS.open) + 1; i++)
    controls.push(await connectControl(server.address, key, OPS));
  try {
    const results = await Promise.all(controls.map((c) => openMany(c, 'crowded', CONTROL_SESSION_LIMITS.open)));
    const sockets = results.flatMap((r) => r.sockets);
    const refused = results.flatMap((r) => r.refused);
    assert.equal(sockets.length, MAX_SESSIONS_PER_CLIENT);
    assert.ok(
      refused.length > 0 && refused.every((code) => code === 'SB_ERR_TOO_MANY_SESSIONS'),
      JSON.stringify(refused),
    );
    // Another client is still reached, by a control with room left.
    const spare = await connectControl(server.address, key, OPS);
    const socket = (await spare.open('box', { kind: 'forward', port: echo.port })) as net.Socket;
    assert.equal(await echoRoundTrip(socket, 'other'), 'other');
    socket.destroy();
    spare.close();
    sockets.forEach((s) => s.destroy());
  } finally {
    controls.forEach((c) => c.close());
  }
});

test('a client refuses sessions past its own limit, whatever its server asks', async () => {
  // A server that asks too much: it welcomes the client, then asks for more sessions than the
  // client will run, and holds every data connection open.
  const held: Duplex[] = [];
  const refusals: { code: string; message: string }[] = [];
  const web = http.createServer();
  const wss = new WebSocketServer({ noServer: true });
  web.on('upgrade', (req, socket, head) => {
    if (req.url?.startsWith('/v1/session/')) {
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${SESSION_UPGRADE}\r\n\r\n`);
      held.push(socket);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws));
  });
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
  const address = `127.0.0.1:${(web.address() as net.AddressInfo).port}`;
  const extra = 10;
  wss.on('connection', (ws) => {
    ws.send(JSON.stringify({ type: 'challenge', nonce: 'n'.repeat(32), server: address, epoch: 1 }));
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString()) as { type: string; error?: { code: string; message: string } };
      if (msg.type === 'hello') {
        ws.send(JSON.stringify({ type: 'welcome', server: address, heartbeat: 30, cluster: {} }));
        for (let i = 0; i < MAX_CLIENT_SESSIONS + extra; i++)
          ws.send(JSON.stringify({ type: 'session', ticket: `t${i}`, target: { kind: 'forward', port: echo.port } }));
      } else if (msg.type === 'session-refused' && msg.error) refusals.push(msg.error);
    });
  });
  const client = await startClient([
    '--gateway',
    address,
    '--key',
    key,
    '--name',
    'greedy-target',
    '--state',
    `${dir.path}/greedy`,
    '--allow-forward',
    String(echo.port),
  ]);
  procs.push(client);
  try {
    await waitFor(() => held.length + refusals.length >= MAX_CLIENT_SESSIONS + extra, 'every session answered', 60_000);
    assert.equal(held.length, MAX_CLIENT_SESSIONS);
    assert.equal(refusals.length, extra);
    assert.ok(
      refusals.every((r) => r.code === 'SB_ERR_TOO_MANY_SESSIONS'),
      JSON.stringify(refusals[0]),
    );
  } finally {
    await client.stop();
    held.forEach((s) => s.destroy());
    wss.close();
    web.close();
  }
});

// ---- item 13: a client's refusal is the client's --------------------------------------------------

test("a hostile client's refusal cannot choose the server's error code or pass its words off as the server's", async () => {
  const hostile = await rawClient(server.address, key, { name: 'liar', allowExec: true, allowForward: [echo.port] });
  await hostile.next('welcome');
  const words = 'log in again at https://evil.example/login \u001b[31mnow\u001b[0m\r\nSB_ERR';
  hostile.ws.on('message', (data) => {
    const msg = JSON.parse(data.toString()) as { type: string; ticket?: string };
    if (msg.type === 'session')
      hostile.send({
        type: 'session-refused',
        ticket: msg.ticket,
        error: { code: 'SB_ERR_LOGIN_REQUIRED', message: words },
      });
  });
  const api = await request(
    server.address,
    'POST',
    'exec',
    { client: 'liar', command: ['true'] },
    { token: ops.token },
  );
  assert.notEqual(api.status, 401);
  assert.equal(api.body.error.code, 'SB_ERR_CLIENT_REFUSED');
  assert.match(api.body.error.message, /^client refused: log in again/);
  assert.doesNotMatch(api.body.error.message, /[\u0000-\u001f\u007f]/);

  const peer = await rawControl(server.address, key, OPS);
  await peer.next('ready');
  const answer = await rawRequest(peer, 1, 'open', { client: 'liar', target: { kind: 'forward', port: echo.port } });
  assert.equal(answer.error?.code, 'SB_ERR_CLIENT_REFUSED');
  assert.match(answer.error?.message ?? '', /^client refused: /);
  // The control channel is still open and logged in: the refusal was the client's, not a logout.
  assert.ok(Array.isArray((await rawRequest(peer, 2, 'browse', {})).result));
  peer.terminate();
  hostile.terminate();
});

test("a client's own refusal codes still reach the control, marked as the client's", async () => {
  const api = await request(
    server.address,
    'POST',
    'exec',
    { client: 'box', command: ['/nonexistent/command'] },
    { token: ops.token },
  );
  assert.equal(api.status, 200); // a command that cannot start is an exit code, not a refusal
  const peer = await rawControl(server.address, key, OPS);
  await peer.next('ready');
  const policy = await rawRequest(peer, 1, 'open', { client: 'box', target: { kind: 'forward', port: 1 } });
  assert.equal(policy.error?.code, 'SB_ERR_POLICY_REFUSED');
  assert.match(policy.error?.message ?? '', /^client refused: port 1 is not in this client's --allow-forward list/);
  peer.terminate();
});

test("on a cluster, a member relays its client's refusal mapped: the primary's control sees the client-refusal code", async () => {
  const cluster = await Cluster.start({ subnet: 147, members: [{}], primaryWeight: 0 });
  try {
    const member = cluster.members[0]!;
    const hostile = await rawClient(member.address, cluster.key, { name: 'far-liar', allowForward: [echo.port] });
    await hostile.next('welcome');
    hostile.ws.on('message', (data) => {
      const msg = JSON.parse(data.toString()) as { type: string; ticket?: string };
      if (msg.type === 'session')
        hostile.send({
          type: 'session-refused',
          ticket: msg.ticket,
          error: { code: 'SB_ERR_LOGIN_REQUIRED', message: 'log in at https://evil.example/' },
        });
    });
    await waitFor(
      async () => (await cluster.browse()).some((c) => c.name === 'far-liar'),
      'the primary to know the client on the member',
      30_000,
    );
    const error = await cluster.withSdk((c) =>
      c.open('far-liar', { kind: 'forward', port: echo.port }).then(
        () => undefined,
        (err: { code: string; message: string }) => err,
      ),
    );
    assert.equal(error?.code, 'SB_ERR_CLIENT_REFUSED');
    assert.match(error?.message ?? '', /^client refused: log in at/);
    hostile.terminate();
  } finally {
    await cluster.close();
  }
});
