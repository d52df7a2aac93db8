/**
 * A server whose event loop runs seconds late turns new clients away with a retry hint instead of
 * queueing them past their own handshake timeout (src/server/loopLag.ts), and keeps answering
 * controls. The server runs in this process on a real socket, so that the test can hold its loop:
 * a busy-wait of 1.5 s is the stall a starved server sees.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { createLogger } from '../src/server/logger.js';
import { SHED_LAG_MS, shedNewClient } from '../src/server/loopLag.js';
import { SwitchboardServer } from '../src/server/server.js';
import { ConfigStore } from '../src/store/configStore.js';
import { request, seriesValue } from './helpers/api.js';
import { tempDir } from './helpers/harness.js';

const dir = tempDir('sb-loop-lag-');
let server: SwitchboardServer;
let store: ConfigStore;

before(async () => {
  store = ConfigStore.open(`${dir.path}/data`);
  server = new SwitchboardServer({ store, logger: createLogger('silent'), host: '127.0.0.1', port: 0 });
  await server.start();
});

after(async () => {
  await server?.stop();
  store?.close();
  dir.remove();
});

test('the decision: below the limit every client is let in; at it, told to wait twice the lag, jittered, within 1-10 s', () => {
  assert.equal(shedNewClient(SHED_LAG_MS - 1, 0.5), undefined);
  assert.deepEqual(shedNewClient(SHED_LAG_MS, 0), { retryAfterMs: SHED_LAG_MS });
  assert.deepEqual(shedNewClient(SHED_LAG_MS, 0.999_999), { retryAfterMs: 2 * SHED_LAG_MS });
  assert.deepEqual(shedNewClient(60_000, 0), { retryAfterMs: 5000 }, 'never more than 10 s');
  assert.deepEqual(shedNewClient(60_000, 0.999_999), { retryAfterMs: 10_000 });
});

/** Opens a channel; resolves with 'open', or the refusal's status and body. */
function upgrade(path: string): Promise<{ status: number; body?: { error: { code: string; retryAfterMs?: number } } }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${server.address}${path}`);
    ws.once('open', () => {
      ws.terminate();
      resolve({ status: 101 });
    });
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    ws.once('error', reject);
  });
}

function stallFor(ms: number): Promise<void> {
  return new Promise((resolve) =>
    setTimeout(() => {
      const until = Date.now() + ms;
      while (Date.now() < until) {
        // The loop held, as a starved server's is.
      }
      resolve();
    }, 150),
  );
}

test('a loop 1.5 s late turns a new client away with 503 SB_ERR_BUSY and a hint, counts it, and still lets a control in; then lets clients in again', async () => {
  assert.equal((await upgrade('/v1/client')).status, 101, 'a healthy loop lets a client in');
  await stallFor(1500);
  const refused = await upgrade('/v1/client');
  assert.equal(refused.status, 503);
  assert.equal(refused.body?.error.code, 'SB_ERR_BUSY');
  assert.ok((refused.body?.error.retryAfterMs ?? 0) >= 1000, JSON.stringify(refused.body));
  assert.equal((await upgrade('/v1/control')).status, 101, 'controls are never turned away for lag');
  const metrics = await request(server.address, 'GET', '/metrics');
  assert.equal(seriesValue(metrics.text, 'switchboard_refusals_total{reason="busy_lagging"}'), 1);
  // A second of a loop on time, and new clients are let in again.
  await new Promise((r) => setTimeout(r, 1200));
  assert.equal((await upgrade('/v1/client')).status, 101);
});
