/**
 * Dialling a peer that accepts the TCP connection and then says nothing (a hung process: the kernel
 * still completes the handshake): the WebSocket, the data connection and the JSON request each give
 * up at their own deadline with a clear error, rather than waiting for ever; and the data
 * connection's deadline ends with the answer, not cutting a quiet session. A dial from a chosen
 * local address (the load generators') arrives from it.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { connectSocket, openDataConnection, openWebSocket, postJson, SESSION_UPGRADE } from '../src/net/dial.js';

let silent: net.Server;
let address: string;
const held: net.Socket[] = [];

before(async () => {
  silent = net.createServer((socket) => held.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  address = `127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
});

after(async () => {
  for (const s of held) s.destroy();
  await new Promise((resolve) => silent.close(resolve));
});

test(
  'a WebSocket to a peer that never answers the upgrade fails at its handshake deadline',
  { timeout: 5000 },
  async () => {
    const ws = openWebSocket(address, '/v1/client', { tls: false, connectTimeoutMs: 300 });
    const err = await new Promise<Error>((resolve) => ws.once('error', resolve));
    assert.match(err.message, /timed out/);
    assert.ok(held.length >= 1, 'the TCP connection was made: the deadline is the handshake, not the connect');
  },
);

// Each with a test timeout: a deadline that never fires must fail the test, not hang it.
test('a JSON request to a peer that never answers fails at its deadline', { timeout: 5000 }, async () => {
  await assert.rejects(
    postJson(address, '/v1/rpc', { method: 'status' }, { tls: false }, 300),
    /did not answer within 300 ms/,
  );
});

test('a data connection to a peer that never answers fails at its deadline', { timeout: 5000 }, async () => {
  await assert.rejects(
    openDataConnection(address, 'some-ticket', { tls: false, connectTimeoutMs: 300 }),
    /did not answer the data connection within 300 ms/,
  );
});

test('an answered data connection stays open while quiet, past the deadline of its answer', async () => {
  const upgrading = net.createServer((socket) => {
    held.push(socket);
    socket.once('data', () =>
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${SESSION_UPGRADE}\r\n\r\n`),
    );
  });
  await new Promise<void>((resolve) => upgrading.listen(0, '127.0.0.1', resolve));
  try {
    const session = (await openDataConnection(`127.0.0.1:${(upgrading.address() as net.AddressInfo).port}`, 'ticket', {
      tls: false,
      connectTimeoutMs: 200,
    })) as net.Socket;
    assert.ok(!session.timeout, `the session's socket still has an idle timer of ${session.timeout} ms`);
    let closed = false;
    session.once('close', () => (closed = true));
    await new Promise((resolve) => setTimeout(resolve, 800));
    assert.equal(closed, false, 'the quiet session was cut by the answer deadline');
    session.destroy();
  } finally {
    upgrading.close();
  }
});

test('a dial from a chosen local address arrives from it; an address not on this machine fails clearly', async () => {
  const seen = new Promise<string | undefined>((resolve) => {
    const server = net.createServer((socket) => {
      resolve(socket.remoteAddress);
      socket.destroy();
      server.close();
    });
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      void connectSocket(`127.0.0.1:${port}`, { tls: false, localAddress: '127.0.0.7' }).then((s) => s.destroy());
    });
  });
  assert.equal(await seen, '127.0.0.7');
  // 192.0.2.1 (TEST-NET-1) is on no interface here: the bind fails before any packet is sent.
  await assert.rejects(
    connectSocket(address, { tls: false, localAddress: '192.0.2.1' }),
    /cannot reach .*EADDRNOTAVAIL/,
  );
});
