/**
 * Issue 20, "a full server degrades, it does not go silent": a real server under a low file limit
 * (prlimit --nofile=300:300) and real clients beyond it. The server keeps answering a control's
 * browse and /metrics, refuses the extra clients with SB_ERR_SERVER_FULL (a 503 with a retry time,
 * which the agent understands), logs one throttled warning, and counts the refusals and hello
 * timeouts in /metrics. Before, the server ran out of files and libuv dropped every new
 * connection, controls and scrapes included.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import WebSocket from 'ws';
import { fileBudget, parseOpenFileLimit } from '../src/server/fileBudget.js';
import { ThrottledWarning } from '../src/server/throttledWarning.js';
import { silentLogger } from '../src/server/logger.js';
import { request, seriesValue } from './helpers/api.js';
import { addKey, binSpawn, Proc, ROOT, runCli, tempDir, waitFor } from './helpers/harness.js';
import { browse, stopAll } from './helpers/sb.js';

const procs: Proc[] = [];
const dirs: { remove(): void }[] = [];
after(async () => {
  await stopAll(procs);
  for (const d of dirs) d.remove();
});

const FILE_LIMIT = 300;

/** `switchboard server` run under `prlimit --nofile=N:N`, as a service with a low LimitNOFILE would be. */
async function startLimitedServer(data: string, extra: string[] = []): Promise<{ proc: Proc; address: string }> {
  const run = binSpawn(['server', '--data', data, '--listen', '127.0.0.1:0', ...extra]);
  const args = [`--nofile=${FILE_LIMIT}:${FILE_LIMIT}`, process.execPath, ...run.argv];
  const proc = new Proc(args, {}, { file: 'prlimit', cwd: ROOT, env: run.env });
  procs.push(proc);
  const line = await proc.waitForMsg('listening', 15_000);
  return { proc, address: line.address as string };
}

async function metrics(address: string): Promise<string> {
  const answer = await request(address, 'GET', '/metrics');
  assert.equal(answer.status, 200);
  return answer.text;
}

test('the file budget: max-clients from the file limit less a reserve, a flag above it capped', () => {
  const limits =
    'Limit                     Soft Limit           Hard Limit           Units\nMax open files            20000                20000                files\n';
  assert.equal(parseOpenFileLimit(limits), 20000);
  assert.equal(
    parseOpenFileLimit('Max open files            unlimited            unlimited            files\n'),
    undefined,
  );
  const b = fileBudget(20000, 30, undefined);
  assert.equal(b.maxSockets, 20000 - 30 - 32);
  assert.equal(b.maxClients, b.maxSockets - 2000);
  assert.equal(b.source, 'file-limit');
  assert.deepEqual(
    { max: fileBudget(20000, 30, 500).maxClients, source: fileBudget(20000, 30, 500).source },
    { max: 500, source: 'flag' },
  );
  assert.equal(fileBudget(300, 25, 100_000).maxClients, fileBudget(300, 25).maxClients);
  assert.equal(fileBudget(300, 25, 100_000).source, 'flag-capped');
  assert.equal(fileBudget(undefined, 0, undefined).maxSockets, Infinity);
});

test('a throttled warning logs once per interval and counts what it held back', () => {
  const lines: unknown[] = [];
  const logger = silentLogger();
  logger.warn = ((fields: unknown) => void lines.push(fields)) as typeof logger.warn;
  const w = new ThrottledWarning(logger, 'x', 1000);
  assert.equal(w.hit({}, 0), true);
  for (let t = 1; t < 1000; t += 100) assert.equal(w.hit({}, t), false);
  assert.equal(w.hit({}, 1000), true);
  assert.deepEqual(
    lines.map((l) => (l as { occurrences: number }).occurrences),
    [1, 11],
  );
});

test('--max-clients must be a positive whole number', async () => {
  const dir = tempDir('sb-full-');
  dirs.push(dir);
  const r = await runCli(['server', '--data', dir.path, '--listen', '127.0.0.1:0', '--max-clients', 'lots']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /--max-clients must be a positive whole number/);
});

test('a server under a low file limit refuses clients beyond it and still answers browse and /metrics', async () => {
  const dir = tempDir('sb-full-');
  dirs.push(dir);
  const key = await addKey(dir.path, 'k1');
  await runCli(['config', '--data', dir.path, 'set', 'hello-timeout', '1']);
  const server = await startLimitedServer(dir.path);
  const listening = server.proc.lines.find((l) => l.msg === 'listening')!;
  assert.equal(listening.fileLimit, FILE_LIMIT);
  const maxClients = listening.maxClients as number;
  assert.ok(maxClients > 50 && maxClients < FILE_LIMIT - 64, `max-clients ${maxClients} leaves a reserve`);
  assert.equal(seriesValue(await metrics(server.address), 'switchboard_max_clients'), maxClients);

  // A connection that never says hello is closed and counted.
  const silent = new WebSocket(`ws://${server.address}/v1/client`);
  const closeCode = await new Promise<number>((resolve) => silent.once('close', (code) => resolve(code)));
  assert.equal(closeCode, 4002);
  assert.equal(seriesValue(await metrics(server.address), 'switchboard_refusals_total{reason="hello_timeout"}'), 1);

  // Twice the clients the file limit would hold.
  const count = FILE_LIMIT + 100;
  const bench = new Proc([
    'bench',
    'clients',
    '--gateway',
    server.address,
    '--key',
    key,
    '--count',
    String(count),
    '--ramp',
    String(count),
    '--interval',
    '0.5',
  ]);
  procs.push(bench);
  const full = await bench.waitForLine(
    (l) =>
      l.msg === 'bench clients' &&
      l.connected === maxClients &&
      Object.keys(l.waiting as object).some((reason) => reason.includes('server full')),
    'the server full, the rest told so',
    60_000,
  );
  assert.ok((full.retries as { busy: number }).busy > 0, 'the refusal carries a retry time the agent honours');

  // The server still answers a control and a scrape, while the refused keep retrying.
  const listed = await browse(server.address, key);
  assert.equal(listed.length, maxClients);
  const text = await metrics(server.address);
  assert.equal(seriesValue(text, 'switchboard_clients'), maxClients);
  assert.ok((seriesValue(text, 'switchboard_refusals_total{reason="server_full"}') ?? 0) > 0, 'refusals counted');

  // One warning line per interval (10 s), not one per refusal.
  const warnings = server.proc.lines.filter((l) => String(l.msg).startsWith('server full'));
  const intervals = Math.ceil((Date.now() - Date.parse(String(warnings[0]?.time))) / 10_000);
  assert.ok(
    warnings.length >= 1 && warnings.length <= 1 + intervals,
    `${warnings.length} warnings in ${intervals} intervals`,
  );
  assert.equal(warnings[0]!.maxClients, maxClients);

  // Clients that leave make room for the waiting ones.
  await bench.stop('SIGKILL');
  await waitFor(
    async () => seriesValue(await metrics(server.address), 'switchboard_clients') === 0,
    'the clients gone',
    15_000,
    200,
  );
  assert.equal(server.proc.child.exitCode, null, 'the server is still running');
});

test('--max-clients caps a server below its file limit', async () => {
  const dir = tempDir('sb-full-');
  dirs.push(dir);
  const key = await addKey(dir.path, 'k1');
  const server = await startLimitedServer(dir.path, ['--max-clients', '5']);
  assert.equal(server.proc.lines.find((l) => l.msg === 'listening')!.maxClients, 5);
  const bench = new Proc([
    'bench',
    'clients',
    '--gateway',
    server.address,
    '--key',
    key,
    '--count',
    '8',
    '--interval',
    '0.5',
  ]);
  procs.push(bench);
  await bench.waitForLine(
    (l) => l.msg === 'bench clients' && l.connected === 5 && Object.keys(l.waiting as object).length > 0,
    '5 connected, 3 refused',
    30_000,
  );
  assert.equal((await browse(server.address, key)).length, 5);
  await bench.stop('SIGKILL');
});
