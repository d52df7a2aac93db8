/**
 * Issue 4, "Reconnect storm": 10,000 real clients (four load generator processes) on one server;
 * the server is killed (kill -9) and started again, so all of them come back at once, against a low
 * admission rate. Admission is rate-limited (503 with a retry hint), clients wait at least the hint
 * (with their own jittered backoff), every client is back in the end, and no process falls over.
 * Server on 127.0.80.1.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Bench, freePortOn, type BenchStatus } from '../helpers/cluster.js';
import { addKey, Proc, runCli, tempDir, waitFor } from '../helpers/harness.js';
import { browse } from '../helpers/sb.js';

const CLIENTS = 10_000;
const PROCESSES = 4;
/** Admitted per second during the storm (bursts of twice that): well below what the clients ask. */
const RATE = 200;
const HOST = '127.0.80.1';

interface Retries {
  attempts: number;
  welcomes: number;
  busy: number;
  early: number;
  busyWaitMs?: { min: number; p10: number; p50: number; p90: number; max: number };
}
type Status = BenchStatus & { retries: Retries; waiting: Record<string, number> };

const dir = tempDir('sb-storm-');
let address = '';
let key = '';
let server: Proc | undefined;
const benches: Bench[] = [];
const procs: Proc[] = [];

function startServer(): Promise<Record<string, unknown>> {
  server = new Proc(['server', '--data', dir.path, '--listen', address]);
  procs.push(server);
  return server.waitForMsg('listening', 30_000);
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`http://${address}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

const latest = () => benches.map((b) => b.latest() as Status | undefined);
const sum = (f: (s: Status) => number) => latest().reduce((n, s) => n + (s ? f(s) : 0), 0);

before(async () => {
  address = `${HOST}:${await freePortOn([HOST])}`;
  key = await addKey(dir.path, 'k1');
  // Clients here find a dead server by its closed socket, not by heartbeats: keep pings rare.
  const set = await runCli(['config', '--data', dir.path, 'set', 'heartbeat', '30']);
  assert.equal(set.code, 0, set.stderr);
  await startServer();
});

after(async () => {
  await Promise.all(
    procs.map(async (p) => {
      if (p.child.exitCode !== null || p.child.signalCode !== null) return;
      p.child.kill('SIGTERM');
      const timer = setTimeout(() => p.child.kill('SIGKILL'), 5000);
      await p.exited;
      clearTimeout(timer);
    }),
  );
  dir.remove();
});

test(`${CLIENTS.toLocaleString('en')} clients connect to one server`, async () => {
  const per = CLIENTS / PROCESSES;
  for (let i = 0; i < PROCESSES; i++) {
    const proc = new Proc([
      'bench',
      'clients',
      '--gateway',
      address,
      '--key',
      key,
      '--count',
      String(per),
      '--prefix',
      `storm${i}`,
      '--interval',
      '1',
    ]);
    procs.push(proc);
    benches.push(new Bench(proc, per, `storm${i}`));
  }
  await Promise.all(benches.map((b) => b.waitAllConnected(480_000)));
  await waitFor(
    async () => (await metric('switchboard_clients ')) === CLIENTS,
    `${CLIENTS} clients on the server`,
    60_000,
    500,
  );
});

test(`kill -9 and restart: all ${CLIENTS.toLocaleString('en')} come back at once, are admitted at ${RATE}/s with retry hints, wait their hints, and every one is back`, async (t) => {
  const set = await runCli(['config', '--data', dir.path, 'set', 'admission-rate', String(RATE)]);
  assert.equal(set.code, 0, set.stderr);
  const before = latest().map((s) => ({ ...s!.retries }));
  const marks = benches.map((b) => b.proc.lines.length);

  await server!.stop('SIGKILL');
  // Every generator notices: its clients lost the server (the socket closed) and wait to retry.
  await Promise.all(
    benches.map((b, i) =>
      b.proc.waitForLine(
        (l) => l.msg === 'bench clients' && Number(l.connected) < b.count,
        `bench ${i} sees its clients cut off`,
        60_000,
        marks[i],
      ),
    ),
  );
  const restarted = Date.now();
  await startServer();

  // Every client is back: each generator says so, and so does the server.
  await Promise.all(benches.map((b) => b.waitStatus((s) => s.connected === b.count, 'all reconnected', 480_000)));
  await waitFor(
    async () => (await metric('switchboard_clients ')) === CLIENTS,
    `${CLIENTS} clients on the restarted server`,
    60_000,
    500,
  );
  const stormMs = Date.now() - restarted;
  const listed = await browse(address, key);
  assert.equal(listed.length, CLIENTS, 'browse lists every client');
  assert.equal(new Set(listed.map((c) => c.id)).size, CLIENTS);

  const refused = await metric('switchboard_refusals_total{reason="busy"}');
  const after = latest().map((s) => s!.retries);
  const delta = (f: (r: Retries) => number) => after.reduce((n, r, i) => n + f(r) - f(before[i]!), 0);
  const attempts = delta((r) => r.attempts);
  const busy = delta((r) => r.busy);
  const early = sum((s) => s.retries.early);
  const waits = after.map((r) => r.busyWaitMs);
  t.diagnostic(
    `storm over in ${(stormMs / 1000).toFixed(1)} s; server refused ${refused} (busy); clients: ${attempts} attempts (most of them while the server was down), ${busy} busy refusals seen, ${early} early retries; waits after a busy refusal (ms) ${JSON.stringify(waits)}`,
  );

  // The limit was exercised: many clients were told to come back later...
  assert.ok(refused >= CLIENTS / 4, `admission refused clients (${refused} refusals)`);
  // ...and admission kept to its rate: what it let in beyond the burst took at least that long.
  const floorMs = ((CLIENTS - 2 * RATE) / RATE) * 1000;
  assert.ok(
    stormMs >= floorMs * 0.9,
    `the storm took ${stormMs} ms; at ${RATE}/s it cannot take less than ${floorMs} ms`,
  );
  // Clients spread their retries: none came back before its hint, and refusals stay a small
  // multiple of the clients. Retrying without waiting for the hints would have been refused
  // about every (1000 / RATE) ms for the whole storm: tens of times per client.
  assert.equal(early, 0, 'no client retried before the hint it was given');
  assert.ok(refused <= 3 * CLIENTS, `${refused} refusals for ${CLIENTS} clients: retries were spread`);
  for (const w of waits)
    assert.ok(w && w.p90 - w.p10 >= 1000, `retries were spread over time, not bunched: ${JSON.stringify(w)}`);

  // Nothing fell over.
  for (const p of [server!, ...benches.map((b) => b.proc)])
    assert.equal(p.child.exitCode ?? p.child.signalCode, null, `process ${p.child.pid} is still running`);
});
