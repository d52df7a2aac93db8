/**
 * The console's event stream over real sockets: a burst far larger than the backlog limit, written
 * in one turn of the event loop, reaches a reader that reads (a member re-linking lists 12,000
 * clients again at once); a reader that stays behind is dropped after a grace, and one whose
 * backlog passes the hard limit at once; writes after the drop or the end (the next events, the
 * keepalive, the session's end) are ignored instead of throwing on the server's event loop (which
 * took a whole primary down).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import { EventStream, STREAM_LIMITS, type StreamLimits } from '../src/server/api/eventStream.js';

const turn = () => new Promise((r) => setImmediate(r));

/** A server whose one answer is an event stream with these limits and clock, and its address. */
async function streamServer(limits: StreamLimits, now: () => number = Date.now) {
  const errors: Error[] = [];
  let stream: EventStream | undefined;
  let closed: Promise<unknown[]> | undefined;
  const server = http.createServer((_req, res) => {
    res.on('error', (err) => errors.push(err));
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('retry: 2000\n\n');
    if (stream) return void res.end(); // another request: answered and ended at once
    stream = new EventStream(res, limits, now);
    closed = once(res, 'close');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    errors,
    async stream(): Promise<{ stream: EventStream; closed: Promise<unknown[]> }> {
      while (!stream) await new Promise((r) => setTimeout(r, 10));
      return { stream, closed: closed! };
    },
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** A raw reader that asks for the stream and then reads nothing more: the server's backlog grows. */
async function stalledReader(port: number): Promise<net.Socket> {
  const reader = net.connect(port, '127.0.0.1');
  reader.write('GET /api/v1/events HTTP/1.1\r\nhost: x\r\n\r\n');
  await once(reader, 'data');
  reader.pause();
  return reader;
}

/** The whole answer a reader that reads gets, once the stream ends. */
function readAll(port: number): Promise<string> {
  const body = new Promise<string>((resolve, reject) =>
    http
      .get(`http://127.0.0.1:${port}/`, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve(text));
        res.on('error', reject);
      })
      .on('error', reject),
  );
  body.catch(() => undefined); // awaited later; a failed assertion first must not leave it unhandled
  return body;
}

const bigEvent = `event: client-up\ndata: ${JSON.stringify({ pad: 'x'.repeat(16 * 1024) })}\n\n`;

test('a burst of 12,000 events in one turn reaches a reader that reads, the stream kept', async () => {
  const served = await streamServer(STREAM_LIMITS);
  try {
    const body = readAll(served.port);
    const { stream } = await served.stream();
    const up = (i: number) =>
      `event: client-up\ndata: ${JSON.stringify({ id: `c${i}`.padEnd(64, '0'), name: `pc-${i}`, group: 'fleet', platform: 'linux', address: '10.0.0.1', server: '127.0.0.2:8443', connectedAt: new Date(0).toISOString(), key: 'default' })}\n\n`;
    let bytes = 0;
    for (let i = 0; i < 12_000; i++) {
      const text = up(i);
      bytes += text.length;
      stream.write(text);
    }
    assert.ok(bytes > 2 * STREAM_LIMITS.behindBytes, `the burst (${bytes} bytes) is over the limit twice and more`);
    for (let i = 0; i < 50 && stream.open; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(stream.open, true, 'a reader that reads is not dropped by one burst');
    stream.end();
    const events = (await body).split('\n\n').filter((e) => e.startsWith('event: client-up'));
    assert.equal(events.length, 12_000);
    assert.ok(events.at(-1)!.includes('"pc-11999"'), 'in order, the last one last');
    assert.deepEqual(served.errors, []);
  } finally {
    served.close();
  }
});

test('a reader that stays behind is dropped after the grace, and writing to it afterwards harms nothing', async () => {
  let clock = 0;
  const served = await streamServer({ behindBytes: 64 * 1024, graceMs: 300, maxBytes: 256 * 1024 * 1024 }, () => clock);
  const reader = await stalledReader(served.port);
  try {
    const { stream, closed } = await served.stream();
    let behindAt: number | undefined;
    for (let i = 0; i < 5000 && stream.open; i++) {
      stream.write(bigEvent);
      await turn();
      clock += 10;
      behindAt ??= stream.behindSince;
    }
    assert.equal(stream.open, false, 'dropped once behind for the grace');
    assert.ok(
      behindAt !== undefined && clock - behindAt >= 300,
      `kept through the grace (behind at ${behindAt}, dropped at ${clock})`,
    );
    await closed; // 'close' is what unsubscribes it from the hub
    stream.write(bigEvent);
    stream.write(': keepalive\n\n');
    stream.end();
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(served.errors, []);
    // The server still answers others.
    const answer = await new Promise<number>((resolve, reject) =>
      http.get(`http://127.0.0.1:${served.port}/`, (res) => resolve(res.statusCode ?? 0)).on('error', reject),
    );
    assert.equal(answer, 200);
  } finally {
    reader.destroy();
    served.close();
  }
});

test('a backlog past the hard limit is dropped at once, within the grace', async () => {
  const served = await streamServer({ behindBytes: 64 * 1024, graceMs: 3_600_000, maxBytes: 1024 * 1024 });
  const reader = await stalledReader(served.port);
  try {
    const { stream, closed } = await served.stream();
    let written = 0;
    while (stream.open && written < 64 * 1024 * 1024) {
      stream.write(bigEvent);
      written += bigEvent.length;
    }
    assert.equal(stream.open, false);
    assert.ok(written <= 1024 * 1024 + bigEvent.length, `dropped at the limit, after ${written} bytes`);
    await closed;
    assert.deepEqual(served.errors, []);
  } finally {
    reader.destroy();
    served.close();
  }
});

test('a stream that is read keeps every event, and ends once', async () => {
  const served = await streamServer({ behindBytes: 64 * 1024, graceMs: 1000, maxBytes: 1024 * 1024 });
  try {
    const body = readAll(served.port);
    const { stream } = await served.stream();
    for (let i = 0; i < 100; i++) stream.write(`data: ${i}\n\n`);
    stream.end();
    stream.end();
    stream.write('data: after the end\n\n');
    const text = await body;
    assert.equal(text.split('\n\n').filter((e) => e.startsWith('data:')).length, 100);
    assert.ok(!text.includes('after the end'));
  } finally {
    served.close();
  }
});
