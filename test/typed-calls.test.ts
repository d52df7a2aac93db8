/**
 * Issue 15, "typed cluster calls and errors": one schema per cluster call checked at both ends, a
 * wire error code checked against ours (never cast), configuration errors that carry their kind
 * (the HTTP status is not chosen by the words), and a redirect on upgrade that is a result.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { openWebSocket, REDIRECT_EVENT, type UpgradeRedirect } from '../src/net/dial.js';
import { parseCall, RPC_PATH, type RpcCall } from '../src/protocol/clusterRpc.js';
import { ErrorCodes, fromWireError, SwitchboardError } from '../src/protocol/errors.js';
import { toHttpError } from '../src/server/api/apiError.js';
import { ClusterRpcClient } from '../src/server/clusterRpcClient.js';
import { ClusterRpcServer } from '../src/server/clusterRpcServer.js';
import { silentLogger } from '../src/server/logger.js';
import { ConfigError } from '../src/store/configStore.js';

const SECRET = 'typed-calls-secret-0123456789';
const servers: http.Server[] = [];
after(() => servers.forEach((s) => s.close()));

/** A bare HTTP server on 127.0.0.1, port 0: its address. */
async function serve(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A cluster-call server whose role answers with `answer`, and a client to call it. */
async function rpcPair(answer: (call: RpcCall) => Promise<unknown>) {
  const calls: RpcCall[] = [];
  const rpc = new ClusterRpcServer({
    secret: SECRET,
    logger: silentLogger(),
    blocked: () => false,
    answer: (call) => (calls.push(call), answer(call)),
  });
  const address = await serve((req, res) => (req.url === RPC_PATH ? rpc.handle(req, res) : res.end()));
  const client = new ClusterRpcClient({ secret: SECRET, tls: false, from: () => '127.0.0.9:1', blocked: () => false });
  return { address, client, calls };
}

test('a wire error code is checked against ours: an unknown one becomes the fallback', () => {
  const known = fromWireError({ code: ErrorCodes.FORBIDDEN, message: 'no' });
  assert.ok(known instanceof SwitchboardError);
  assert.equal(known.code, ErrorCodes.FORBIDDEN);
  assert.equal(fromWireError({ code: 'SB_ERR_MADE_UP', message: 'x' }).code, ErrorCodes.INTERNAL);
  assert.equal(fromWireError({ code: '__proto__', message: 'x' }, ErrorCodes.UNREACHABLE).code, ErrorCodes.UNREACHABLE);
});

test("a configuration error's kind, not its words, chooses the HTTP status", () => {
  // Words that once decided the status ("no ...", "exists already") no longer do.
  const invalid = toHttpError(new ConfigError('no more than 64 characters, please'));
  assert.equal(invalid.status, 400);
  assert.equal(invalid.body.error.code, ErrorCodes.CONFIG);
  const missing = toHttpError(new ConfigError('operator ops is not there', 'missing'));
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error.code, ErrorCodes.NOT_FOUND);
  const exists = toHttpError(new ConfigError('that name is taken', 'exists'));
  assert.equal(exists.status, 409);
  assert.equal(exists.body.error.code, ErrorCodes.CONFIG);
});

test("each call's parameters are parsed against its schema before a role sees them", () => {
  assert.deepEqual(parseCall('step-down', { epoch: 4 }, 'a:1'), {
    method: 'step-down',
    params: { epoch: 4 },
    from: 'a:1',
  });
  assert.equal(parseCall('step-down', {}, 'a:1'), undefined, 'step-down needs an epoch');
  assert.equal(parseCall('acting-primary', { epoch: 1.5 }, 'a:1'), undefined, 'a whole epoch');
  assert.equal(parseCall('acting-primary', { epoch: '3' }, 'a:1'), undefined, 'a number, not text');
  assert.deepEqual(parseCall('status', { extra: 1 }, 'a:1')?.params, {}, 'unknown parameters are dropped');
});

test('a cluster call: typed parameters in, a result checked against its schema out', async () => {
  const status = { acting: true, epoch: 7, reachesPrimary: true, configVersion: 3 };
  const { address, client, calls } = await rpcPair(async (call) =>
    call.method === 'status' ? status : { steppedDown: true },
  );
  assert.deepEqual(await client.call(address, 'status', {}), status);
  assert.deepEqual(await client.call(address, 'step-down', { epoch: 8 }), { steppedDown: true });
  assert.deepEqual(
    calls.map((c) => [c.method, c.params, c.from]),
    [
      ['status', {}, '127.0.0.9:1'],
      ['step-down', { epoch: 8 }, '127.0.0.9:1'],
    ],
  );
  // Parameters that do not fit are refused by the answering end; the role never sees them.
  await assert.rejects(
    client.call(address, 'step-down', { epoch: -1 }),
    (err: SwitchboardError) => err.code === ErrorCodes.BAD_MESSAGE && /parameters/.test(err.message),
  );
  assert.equal(calls.length, 2);
});

test('a cluster reply that does not fit its call, or carries a code not ours, is not taken as is', async () => {
  const { address, client } = await rpcPair(async (call) => {
    if (call.method === 'status') return { acting: 'yes', epoch: -1 };
    throw Object.assign(new Error('odd'), { code: 'SB_ERR_NOT_OURS' });
  });
  await assert.rejects(
    client.call(address, 'status', {}),
    (err: SwitchboardError) => err.code === ErrorCodes.BAD_MESSAGE && /unexpected result/.test(err.message),
  );
  const other = await rpcPair(async () => {
    throw new SwitchboardError(ErrorCodes.FORBIDDEN, 'only the primary');
  });
  await assert.rejects(
    other.client.call(other.address, 'snapshot', {}),
    (err: SwitchboardError) => err.code === ErrorCodes.FORBIDDEN && err.message === 'only the primary',
  );
  await assert.rejects(
    client.call(address, 'snapshot', {}),
    (err: SwitchboardError) => err.code === ErrorCodes.INTERNAL,
  );
});

test('a 307 on the upgrade is a redirect event with where to go, not an error', async () => {
  const body = JSON.stringify({ redirect: { to: '127.0.0.5:9', reason: 'placed by weight' } });
  const server = http.createServer((_req, res) => res.end());
  server.on('upgrade', (_req, socket) =>
    socket.end(
      `HTTP/1.1 307 Temporary Redirect\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    ),
  );
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const ws = openWebSocket(`127.0.0.1:${(server.address() as AddressInfo).port}`, '/v1/client', { tls: false });
  const redirects: UpgradeRedirect[] = [];
  const errors: Error[] = [];
  ws.on(REDIRECT_EVENT, (r: UpgradeRedirect) => redirects.push(r));
  ws.on('error', (err) => errors.push(err));
  await new Promise((r) => ws.once('close', r));
  assert.deepEqual(redirects, [{ to: '127.0.0.5:9', reason: 'placed by weight' }]);
  assert.ok(
    errors.every((e) => !/placed this client/.test(e.message)),
    `no error stands for the redirect: ${errors.map((e) => e.message).join('; ')}`,
  );
});
