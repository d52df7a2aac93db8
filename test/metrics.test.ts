/**
 * Issue 7's observability: a standalone server's /metrics (Prometheus text) counts what the issue
 * names, as the events happen: connected clients, sessions and the bytes they relayed each way,
 * refusals by reason; and it carries the epoch, the configuration version, the replication lag,
 * failovers, and the process's CPU and event-loop lag.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CloseCodes } from '../src/protocol/closeCodes.js';
import { request, seriesValue } from './helpers/api.js';
import {
  addKey,
  type Proc,
  startClient,
  startServer,
  tempDir,
  waitFor,
  type RunningServer,
} from './helpers/harness.js';
import { connectTcp, echoService, rawClient, readAll, startForwardProc, stopAll, type Service } from './helpers/sb.js';

const dir = tempDir('sb-metrics-');
const procs: Proc[] = [];
let server: RunningServer;
let key: string;
let echo: Service;

async function metrics(): Promise<string> {
  const answer = await request(server.address, 'GET', '/metrics');
  assert.equal(answer.status, 200);
  return answer.text;
}

before(async () => {
  server = await startServer(`${dir.path}/data`);
  key = await addKey(server.data, 'metrics');
  echo = await echoService();
  procs.push(
    await startClient([
      '--gateway',
      server.address,
      '--key',
      key,
      '--name',
      'metrics-1',
      '--state',
      `${dir.path}/c1`,
      '--allow-forward',
      String(echo.port),
    ]),
  );
});

after(async () => {
  await stopAll(procs);
  await stopAll(server ? [server.proc] : []);
  await echo?.close();
  dir.remove();
});

test('/metrics names the state a server is in: clients, epoch, configuration, replication lag, failovers, CPU and event-loop lag', async () => {
  const text = await metrics();
  assert.equal(seriesValue(text, 'switchboard_clients'), 1);
  assert.equal(seriesValue(text, 'switchboard_sessions_active'), 0);
  assert.equal(seriesValue(text, 'switchboard_failovers_total'), 0);
  assert.equal(seriesValue(text, 'switchboard_heartbeats_missed_total'), 0);
  assert.equal(seriesValue(text, 'switchboard_replication_lag_seconds'), 0);
  assert.ok((seriesValue(text, 'switchboard_config_version') ?? 0) >= 1, 'the configuration version (a key was added)');
  for (const series of [
    'switchboard_epoch',
    'switchboard_process_cpu_seconds_total',
    'switchboard_nodejs_eventloop_lag_seconds',
    'switchboard_nodejs_eventloop_lag_p99_seconds',
  ]) {
    assert.ok(Number.isFinite(seriesValue(text, series)), `${series} is missing`);
  }
});

test('a session is counted once it ends, with the bytes it relayed each way (its own: not the HTTP upgrade that opened it)', async () => {
  const before = await metrics();
  const sessionsBefore = seriesValue(before, 'switchboard_sessions_total') ?? 0;
  const toClientBefore = seriesValue(before, 'switchboard_bytes_relayed_total{direction="to_client"}') ?? 0;
  const fromClientBefore = seriesValue(before, 'switchboard_bytes_relayed_total{direction="from_client"}') ?? 0;

  const forward = await startForwardProc(server.address, key, 'metrics-1', echo.port);
  procs.push(forward.proc);
  const socket = await connectTcp(forward.port);
  const echoed = readAll(socket);
  socket.end(Buffer.alloc(3000, 7));
  assert.equal((await echoed).length, 3000);

  await waitFor(
    async () => seriesValue(await metrics(), 'switchboard_sessions_total') === sessionsBefore + 1,
    'the session to be counted',
  );
  const after = await metrics();
  assert.equal(seriesValue(after, 'switchboard_bytes_relayed_total{direction="to_client"}'), toClientBefore + 3000);
  assert.equal(seriesValue(after, 'switchboard_bytes_relayed_total{direction="from_client"}'), fromClientBefore + 3000);
  assert.equal(seriesValue(after, 'switchboard_sessions_active'), 0);
});

test('a refused client is counted under its reason', async () => {
  const series = 'switchboard_refusals_total{reason="bad_key"}';
  const before = seriesValue(await metrics(), series) ?? 0;
  const intruder = await rawClient(server.address, 'not-a-key-of-this-server-0123456789');
  assert.equal((await intruder.closed).code, CloseCodes.BAD_KEY);
  assert.equal(seriesValue(await metrics(), series), before + 1);
});
