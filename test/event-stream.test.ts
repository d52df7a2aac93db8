/**
 * The console's event stream against a reader that stops reading (a stalled page while a fleet
 * arrives): over real sockets, the server drops that stream once it falls too far behind, and the
 * writes that follow (the next events, the keepalive, the session's end) are ignored instead of
 * throwing on the server's event loop (which took a whole primary down).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import { EventStream } from '../src/server/api/eventStream.js';

test('a stream that falls behind is dropped, and writing to it afterwards harms nothing', async () => {
  const errors: Error[] = [];
  let stream: EventStream | undefined;
  let closed: Promise<unknown[]> | undefined;
  const server = http.createServer((_req, res) => {
    res.on('error', (err) => errors.push(err));
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('retry: 2000\n\n');
    stream = new EventStream(res, 64 * 1024);
    closed = once(res, 'close');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const reader = net.connect(port, '127.0.0.1');
  try {
    reader.write('GET /api/v1/events HTTP/1.1\r\nhost: x\r\n\r\n');
    while (!stream) await new Promise((r) => setTimeout(r, 10));
    reader.pause(); // reads nothing more: the server's buffer grows
    const event = `event: client-up\ndata: ${JSON.stringify({ pad: 'x'.repeat(16 * 1024) })}\n\n`;
    for (let i = 0; i < 2000 && stream.open; i++) {
      stream.write(event);
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(stream.open, false, 'dropped once over its limit');
    await closed; // 'close' is what unsubscribes it from the hub
    stream.write(event);
    stream.write(': keepalive\n\n');
    stream.end();
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(errors, []);
    // The server still answers others.
    const answer = await new Promise<number>((resolve, reject) =>
      http.get(`http://127.0.0.1:${port}/`, (res) => resolve(res.statusCode ?? 0)).on('error', reject),
    );
    assert.equal(answer, 200);
  } finally {
    reader.destroy();
    server.closeAllConnections();
    server.close();
  }
});

test('a stream that is read keeps every event, and ends once', async () => {
  let stream: EventStream | undefined;
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    stream = new EventStream(res, 64 * 1024);
    for (let i = 0; i < 100; i++) stream.write(`data: ${i}\n\n`);
    stream.end();
    stream.end();
    stream.write('data: after the end\n\n');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  try {
    const body = await new Promise<string>((resolve, reject) =>
      http
        .get(`http://127.0.0.1:${port}/`, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => resolve(text));
        })
        .on('error', reject),
    );
    assert.equal(body.split('\n\n').filter(Boolean).length, 100);
    assert.ok(!body.includes('after the end'));
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
