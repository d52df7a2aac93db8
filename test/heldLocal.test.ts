/**
 * A forward's new local connection, watched before its session is opened (HeldLocal), on real
 * loopback sockets: a probe whose close is already there is seen as gone even when the process was
 * too busy to run the window's timer on time (timers run before the sockets are polled, so a late
 * timer alone would open a session for it), and a silent connection that stays is not.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { PassThrough } from 'node:stream';
import { after, before, test } from 'node:test';
import { EARLY_CLOSE_WINDOW_MS, HeldLocal } from '../src/control/heldLocal.js';

let server: net.Server;
const accepted: net.Socket[] = [];
let waiting: ((s: net.Socket) => void) | undefined;

before(async () => {
  server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => {
    if (waiting) waiting(socket);
    else accepted.push(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
});

after(() => {
  accepted.forEach((s) => s.destroy());
  server.close();
});

/** A connection to the server: the client's socket and the server's (paused, not read yet). */
async function connection(): Promise<{ client: net.Socket; local: net.Socket }> {
  const local = new Promise<net.Socket>((resolve) => {
    const next = accepted.shift();
    if (next) resolve(next);
    else waiting = resolve;
  });
  const client = net.connect({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port });
  await once(client, 'connect');
  const socket = await local;
  waiting = undefined;
  return { client, local: socket };
}

/** Holds the event loop, as a busy process would: the window's timer is overdue when it runs. */
function busyFor(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

test('a probe already closed is gone, however late the window timer runs', async () => {
  const { client, local } = await connection();
  client.destroy();
  await once(client, 'close'); // its FIN is in the server's socket now
  const held = new HeldLocal(local);
  const settled = held.settle();
  busyFor(EARLY_CLOSE_WINDOW_MS * 4);
  await settled;
  assert.equal(held.gone, true);
  held.drop();
});

test('a silent connection that stays is not gone once the window has passed', async () => {
  const { client, local } = await connection();
  const held = new HeldLocal(local);
  await held.settle();
  assert.equal(held.gone, false);
  held.drop();
  client.destroy();
});

test('a connection that speaks first settles, and what it sent early goes first once attached', async () => {
  const { client, local } = await connection();
  client.write('hello');
  const held = new HeldLocal(local);
  await held.settle();
  assert.equal(held.gone, false);
  // An echoing far end: the early bytes come back to the client.
  held.attach(new PassThrough());
  const [echoed] = (await once(client, 'data')) as [Buffer];
  assert.equal(echoed.toString(), 'hello');
  client.destroy();
});
