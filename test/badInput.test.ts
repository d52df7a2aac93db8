/**
 * Bad input at the protocol level, with raw WebSockets and raw HTTP against a real server: wrong
 * keys, forged identities, malformed and oversized messages, a hello that never comes, a duplicate
 * client id, forged and reused tickets, unknown clients, garbage URLs and bytes. Each gets a clear
 * close code or error, is logged, and every other client and session keeps working.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import { after, before, test } from 'node:test';
import { loadOrCreateIdentity, newIdentity } from '../src/client/identity.js';
import { CloseCodes } from '../src/protocol/closeCodes.js';
import { keyProof } from '../src/protocol/proof.js';
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
  connectTcp,
  controlCli,
  echoRoundTrip,
  echoService,
  helloFor,
  rawClient,
  rawControl,
  rawHttp,
  RawPeer,
  rawRequest,
  sessionUpgradeRequest,
  stopAll,
  type Service,
} from './helpers/sb.js';

const dir = tempDir('sb-bad-');
const procs: Proc[] = [];
let server: RunningServer;
let key: string;
let echo: Service;
let steady: Proc;
let steadyConnectedAt: string;
/** A session opened at the start and kept open through every test. */
let longSession: net.Socket;
let probe = 0;

before(async () => {
  const data = `${dir.path}/data`;
  key = await addKey(data, 'main');
  // A short hello timeout, set before the server starts, so a silent peer is dropped quickly.
  const set = await runCli(['config', '--data', data, 'set', 'hello-timeout', '2']);
  assert.equal(set.code, 0, set.stderr);
  server = await startServer(data);
  procs.push(server.proc);
  echo = await echoService();
  steady = await startClient([
    '--gateway',
    server.address,
    '--key',
    key,
    '--name',
    'steady',
    '--state',
    `${dir.path}/steady`,
    '--allow-forward',
    String(echo.port),
  ]);
  procs.push(steady);
  steadyConnectedAt = (await browse(server.address, key)).find((c) => c.name === 'steady')!.connectedAt;
  const control = await connectControl(server.address, key);
  longSession = (await control.open('steady', { kind: 'forward', port: echo.port })) as net.Socket;
  assert.equal(await echoRoundTrip(longSession, 'ready'), 'ready');
});

after(async () => {
  longSession?.destroy();
  await stopAll(procs);
  await echo?.close();
  dir.remove();
});

/** The good client is still connected (the same connection) and the open session still carries bytes. */
async function othersUnaffected(): Promise<void> {
  const text = `probe ${++probe}`;
  assert.equal(await echoRoundTrip(longSession, text), text, 'the open session still works');
  const listed = await browse(server.address, key);
  assert.equal(
    listed.find((c) => c.name === 'steady')?.connectedAt,
    steadyConnectedAt,
    'the good client kept its connection',
  );
  assert.equal(steady.child.exitCode, null);
  assert.equal(server.proc.child.exitCode, null, 'the server is running');
}

function refusalLogged(closeCode: number, from: number): Promise<Record<string, unknown>> {
  return server.proc.waitForLine(
    (l) => l.closeCode === closeCode,
    `a log line for close code ${closeCode}`,
    10_000,
    from,
  );
}

test('wrong key: a client is closed with 4001 and a clear reason; the CLI client says so', async () => {
  const from = server.proc.lines.length;
  const peer = await rawClient(server.address, 'not-the-key-at-all');
  const closed = await peer.closeResult();
  assert.equal(closed.code, CloseCodes.BAD_KEY);
  assert.equal(closed.reason, 'key not accepted');
  await refusalLogged(CloseCodes.BAD_KEY, from);
  const cli = await startClient(
    ['--gateway', server.address, '--key', 'not-the-key-at-all', '--name', 'wrong', '--state', `${dir.path}/wrong`],
    false,
  );
  procs.push(cli);
  const waiting = await cli.waitForLine((l) => l.status === 'waiting', 'the refusal');
  assert.match(String(waiting.reason), /key not accepted/);
  await stopAll([cli]);
  // A control with a wrong key: the same code, and a clear error from the SDK.
  const control = await rawControl(server.address, 'not-the-key-at-all');
  assert.equal((await control.closeResult()).code, CloseCodes.BAD_KEY);
  await assert.rejects(
    connectControl(server.address, 'not-the-key-at-all'),
    (err: Error & { code?: string }) => err.code === 'SB_ERR_BAD_KEY' && /key not accepted/.test(err.message),
  );
  await othersUnaffected();
});

test('a forged identity (an id not derived from the key pair, or a bad signature) is refused', async () => {
  const peer = RawPeer.open(server.address, '/v1/client');
  const challenge = await peer.next('challenge');
  const mine = newIdentity();
  const other = newIdentity();
  // Claim another client's id with my own key pair.
  peer.send({
    ...helloFor(key, challenge.nonce as string, { identity: mine }),
    id: other.id,
    proof: keyProof(key, 'client', challenge.nonce as string, other.id),
  });
  const closed = await peer.closeResult();
  assert.equal(closed.code, CloseCodes.BAD_IDENTITY);
  assert.match(closed.reason, /did not prove its identity/);
  // My own id, but a signature made for another nonce (a replayed hello).
  const replay = RawPeer.open(server.address, '/v1/client');
  const second = await replay.next('challenge');
  replay.send({
    ...helloFor(key, second.nonce as string, { identity: mine }),
    signature: mine.sign(challenge.nonce as string),
  });
  assert.equal((await replay.closeResult()).code, CloseCodes.BAD_IDENTITY);
  await othersUnaffected();
});

test('malformed messages: not JSON, the wrong shape, binary, out of order: closed with 4000 and the reason', async () => {
  const cases: [string, (p: RawPeer) => void, RegExp][] = [
    ['not JSON', (p) => p.send('{ this is not json'), /malformed message: not JSON/],
    ['wrong shape', (p) => p.send({ type: 'hello', version: 1, id: 42 }), /malformed message: id/],
    ['unknown type', (p) => p.send({ type: 'gimme' }), /malformed message/],
    ['binary', (p) => p.ws.send(randomBytes(32)), /binary frames/],
    [
      'before hello',
      (p) => p.send({ type: 'session-refused', ticket: 'x', error: { code: 'a', message: 'b' } }),
      /expected hello/,
    ],
  ];
  for (const [what, send, reason] of cases) {
    const from = server.proc.lines.length;
    const peer = RawPeer.open(server.address, '/v1/client');
    await peer.next('challenge');
    send(peer);
    const closed = await peer.closeResult();
    assert.equal(closed.code, CloseCodes.BAD_MESSAGE, what);
    assert.match(closed.reason, reason, what);
    await refusalLogged(CloseCodes.BAD_MESSAGE, from);
  }
  // The same on the control channel, and a request before logging in.
  const control = RawPeer.open(server.address, '/v1/control');
  await control.next('challenge');
  control.send('[1,2,');
  assert.equal((await control.closeResult()).code, CloseCodes.BAD_MESSAGE);
  const early = RawPeer.open(server.address, '/v1/control');
  await early.next('challenge');
  early.send({ type: 'request', req: 1, method: 'browse', params: {} });
  const closed = await early.closeResult();
  assert.equal(closed.code, CloseCodes.LOGIN_REQUIRED);
  assert.match(closed.reason, /log in first/);
  await othersUnaffected();
});

test('an oversized message (over 64 KiB) closes that connection with 1009 only', async () => {
  for (const path of ['/v1/client', '/v1/control']) {
    const peer = RawPeer.open(server.address, path);
    await peer.next('challenge');
    peer.send(JSON.stringify({ type: 'hello', pad: 'x'.repeat(70 * 1024) }));
    const closed = await peer.closeResult();
    assert.equal(closed.code, 1009, path);
  }
  // A connected client that sends one is dropped too, and the rest carry on.
  const client = await rawClient(server.address, key, { name: 'chatty' });
  await client.next('welcome');
  client.send('x'.repeat(65 * 1024 + 1));
  assert.equal((await client.closeResult()).code, 1009);
  await waitFor(
    async () => !(await browse(server.address, key)).some((c) => c.name === 'chatty'),
    'the dropped client to leave browse',
  );
  await othersUnaffected();
});

test('a hello that never comes: the connection is closed with 4002 after hello-timeout', async () => {
  const from = server.proc.lines.length;
  const silent = RawPeer.open(server.address, '/v1/client');
  await silent.next('challenge');
  const closed = await silent.closeResult();
  assert.equal(closed.code, CloseCodes.HELLO_TIMEOUT);
  assert.match(closed.reason, /no hello in time/);
  await server.proc.waitForLine((l) => l.msg === 'client sent no hello in time', 'the log line', 10_000, from);
  const control = RawPeer.open(server.address, '/v1/control');
  await control.next('challenge');
  const controlClosed = await control.closeResult();
  assert.equal(controlClosed.code, CloseCodes.HELLO_TIMEOUT);
  assert.match(controlClosed.reason, /no login in time/);
  // A peer that opens TCP and sends nothing at all is dropped too, without harm.
  const idle = await connectTcp(Number(server.address.split(':')[1]));
  idle.on('error', () => undefined);
  await othersUnaffected();
  idle.destroy();
});

test('a second client with the same id is refused with 4009; the first stays', async () => {
  const from = server.proc.lines.length;
  const identity = loadOrCreateIdentity(`${dir.path}/steady`); // steady's own key pair
  const twin = await rawClient(server.address, key, { identity, name: 'steady-twin' });
  const closed = await twin.closeResult();
  assert.equal(closed.code, CloseCodes.DUPLICATE_CLIENT);
  assert.match(closed.reason, new RegExp(`client id ${identity.id} is already connected`));
  await refusalLogged(CloseCodes.DUPLICATE_CLIENT, from);
  const listed = await browse(server.address, key);
  assert.deepEqual(
    listed.filter((c) => c.id === identity.id).map((c) => c.name),
    ['steady'],
  );
  await othersUnaffected();
});

test('forged and reused tickets get a 404 JSON error; a real ticket works once', async () => {
  for (const forged of ['forged', randomBytes(24).toString('base64url'), '%E0%A4%A', '']) {
    const reply = await rawHttp(
      server.address,
      sessionUpgradeRequest(server.address, forged).replace(encodeURIComponent(forged), forged),
    );
    assert.equal(reply.status, 404, forged);
    assert.match(reply.headers, /content-type: application\/json/i);
    const body = JSON.parse(reply.body) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'SB_ERR_BAD_TICKET', forged);
    assert.match(body.error.message, /unknown, expired or used ticket/);
    reply.socket.destroy();
  }
  await server.proc.waitForLine((l) => l.msg === 'data connection with an unknown or used ticket', 'the log line');

  const control = await rawControl(server.address, key);
  await control.next('ready');
  const opened = await rawRequest(control, 1, 'open', {
    client: 'steady',
    target: { kind: 'forward', port: echo.port },
  });
  const ticket = (opened.result as { ticket: string }).ticket;
  assert.ok(ticket, JSON.stringify(opened));
  // Not a session upgrade: refused, and the ticket is not spent.
  const wrongUpgrade = await rawHttp(server.address, sessionUpgradeRequest(server.address, ticket, 'websocket'));
  assert.equal(wrongUpgrade.status, 404);
  assert.equal((JSON.parse(wrongUpgrade.body) as { error: { code: string } }).error.code, 'SB_ERR_BAD_TICKET');
  const first = await rawHttp(server.address, sessionUpgradeRequest(server.address, ticket));
  assert.equal(first.status, 101);
  assert.equal(await echoRoundTrip(first.socket, 'through a ticket'), 'through a ticket');
  const reused = await rawHttp(server.address, sessionUpgradeRequest(server.address, ticket));
  assert.equal(reused.status, 404);
  assert.equal((JSON.parse(reused.body) as { error: { code: string } }).error.code, 'SB_ERR_BAD_TICKET');
  // The first use is not disturbed by the replay.
  assert.equal(await echoRoundTrip(first.socket, 'still mine'), 'still mine');
  first.socket.destroy();
  control.terminate();
  await othersUnaffected();
});

test('an unknown client name gets a clear error from open, exec and forward', async () => {
  const control = await rawControl(server.address, key);
  await control.next('ready');
  const reply = await rawRequest(control, 7, 'open', { client: 'nobody-here', target: { kind: 'forward', port: 22 } });
  assert.equal(reply.error?.code, 'SB_ERR_UNKNOWN_CLIENT');
  assert.match(reply.error!.message, /no client nobody-here/);
  // Bad parameters are an error on that request, not the end of the control.
  const bad = await rawRequest(control, 8, 'open', { client: 'steady', target: { kind: 'teleport' } });
  assert.equal(bad.error?.code, 'SB_ERR_BAD_MESSAGE');
  const stillThere = await rawRequest(control, 9, 'browse', {});
  assert.ok((stillThere.result as { name: string }[]).some((c) => c.name === 'steady'));
  control.terminate();

  const exec = await controlCli(server.address, key, ['exec', 'nobody-here', '--', 'true']);
  assert.notEqual(exec.code, 0);
  assert.match(exec.stderr, /no client nobody-here/);
  const forward = await controlCli(server.address, key, ['forward', 'nobody-here', '0:22']);
  assert.notEqual(forward.code, 0);
  assert.match(forward.stderr, /no client nobody-here/);
  await othersUnaffected();
});

test('garbage on the port: malformed URLs, unknown channels and random bytes never bring the server down', async () => {
  const badUrl = await rawHttp(server.address, 'GET http://[ HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.ok(badUrl.status >= 400 && badUrl.status < 500, badUrl.headers);
  badUrl.socket.destroy();
  const unknown = await rawHttp(
    server.address,
    `GET /v1/nowhere HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`,
  );
  assert.equal(unknown.status, 404);
  assert.match(unknown.body, /no channel \/v1\/nowhere/);
  unknown.socket.destroy();
  const port = Number(server.address.split(':')[1]);
  for (let i = 0; i < 5; i++) {
    const s = await connectTcp(port);
    s.on('error', () => undefined);
    s.write(randomBytes(4096));
    s.end();
    await new Promise((r) => s.once('close', r));
  }
  await othersUnaffected();
});
