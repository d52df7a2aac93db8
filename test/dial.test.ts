/**
 * Dialling a peer that accepts the TCP connection and then says nothing (a hung process: the kernel
 * still completes the handshake): the WebSocket and the JSON request each give up at their own
 * deadline with a clear error, rather than waiting for ever.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { openWebSocket, postJson } from '../src/net/dial.js';

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

test('a WebSocket to a peer that never answers the upgrade fails at its handshake deadline', async () => {
  const ws = openWebSocket(address, '/v1/client', { tls: false, connectTimeoutMs: 300 });
  const err = await new Promise<Error>((resolve) => ws.once('error', resolve));
  assert.match(err.message, /timed out/);
  assert.ok(held.length >= 1, 'the TCP connection was made: the deadline is the handshake, not the connect');
});

test('a JSON request to a peer that never answers fails at its deadline', async () => {
  await assert.rejects(postJson(address, '/v1/rpc', { method: 'status' }, { tls: false }, 300), /did not answer within 300 ms/);
});
