/**
 * The server's heartbeat on a real socket: a client that answered its ping is not cut off because
 * the server's event loop was busy when the next tick came due, with the pong unread in the
 * socket. The client is another process, so that it answers while this one is blocked.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { pino } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { ClientHeartbeat, type HeartbeatClient } from '../src/server/clientHeartbeat.js';
import { ROOT } from './helpers/harness.js';
import { sleep } from './helpers/sb.js';

const INTERVAL_S = 0.5;
/** Blocks across the next tick's due time, but for less than a stall (two intervals). */
const BUSY_MS = 700;

/** A peer that only answers pings (ws does, by itself) until its stdin closes. */
const PEER = `
const WebSocket = require('ws');
const ws = new WebSocket(process.argv[1]);
ws.on('open', () => process.stdout.write('open\\n'));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

function busyFor(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until);
}

test('a pong that waits unread while the loop is busy at the tick still counts', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((resolve) => wss.once('listening', resolve));
  const { port } = wss.address() as { port: number };
  const connected = new Map<string, HeartbeatClient>();
  let terminated = false;
  let pings = 0;
  let missed = 0;
  const arrived = new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
  const peer = spawn(process.execPath, ['-e', PEER, `ws://127.0.0.1:${port}`], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const heartbeat = new ClientHeartbeat(connected, pino({ level: 'silent' }), (n) => (missed += n));
  try {
    const socket = await arrived;
    const client: HeartbeatClient = {
      id: 'peer',
      lastSeen: Date.now(),
      ws: {
        ping: () => {
          socket.ping();
          // After the first ping, at the loop's next check phase: busy until past the next tick's
          // due time, while the peer's pong arrives and waits unread.
          if (++pings === 1) setImmediate(() => busyFor(BUSY_MS));
        },
        terminate: () => {
          terminated = true;
          socket.terminate();
        },
      },
    };
    socket.on('pong', () => (client.lastSeen = Date.now()));
    connected.set(client.id, client);
    heartbeat.schedule(INTERVAL_S);
    client.lastSeen = Date.now(); // seen as the heartbeat starts, as a welcomed client is
    while (pings < 3 && !terminated) await sleep(50);
    assert.equal(terminated, false, 'the client that answered was cut off');
    assert.equal(missed, 0);
    assert.ok(pings >= 3);
  } finally {
    heartbeat.stop();
    peer.stdin!.end();
    peer.kill();
    wss.close();
  }
});
