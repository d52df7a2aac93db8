/**
 * docs/security.md, "Abuse and availability": a flood of bare WebSocket upgrades to /v1/client
 * (no key, from one address) on a real server process with a low admission rate. Clients that prove
 * their key in their upgrade headers take from the admission budget the flood cannot touch, so all
 * of them connect (and reconnect after a restart) within seconds; upgrades that prove nothing share
 * a small budget fairly per address, so the flooder is answered 503 and two other addresses that
 * prove nothing are still let in.
 *
 * Before, one bucket served everyone: the flood took every token and pushed the one retry slot out
 * to its 60 s cap, and real clients were told to come back a minute later.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { request, seriesValue } from './helpers/api.js';
import { addKey, Proc, ROOT, runCli, startServer, tempDir, waitFor, type RunningServer } from './helpers/harness.js';
import { freePort, sleep, stopAll } from './helpers/sb.js';
import type { AdmissionFloodStats } from './security-admission-worker.js';

/** New clients per second: low, so the flood would take every token many times over. */
const RATE = 5;
const CLIENTS = 20;
/** Not 127.0.0.1 (exempt from per-address limits, for local tools): this one counts. */
const FLOODER = '127.0.115.1';
const OTHERS = ['127.0.115.2', '127.0.115.3'];
/**
 * Generous for a loaded 2-CPU machine: with the budgets apart, clients connect in a few seconds;
 * before, the flood told them to wait about 60 s.
 */
const CONNECT_DEADLINE_MS = 25_000;
/** After a restart clients also wait out their reconnect backoff (up to 10 s, jittered), so longer. */
const RECONNECT_DEADLINE_MS = 40_000;

const dir = tempDir('sb-admission-');
const procs: Proc[] = [];
let server: RunningServer;
let key: string;
let port: number;
let flood: { child: ChildProcess; latest: () => AdmissionFloodStats | undefined };

function startFlood(): typeof flood {
  const spec = { targets: [`127.0.0.1:${port}`], source: FLOODER, concurrency: 64 };
  const child = spawn(
    process.execPath,
    [join(ROOT, 'dist', 'test', 'security-admission-worker.js'), JSON.stringify(spec)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let latest: AdmissionFloodStats | undefined;
  let partial = '';
  child.stdout!.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop()!;
    for (const line of lines) latest = JSON.parse(line) as AdmissionFloodStats;
  });
  return { child, latest: () => latest };
}

const answered = (status: string) => flood.latest()?.answers[status] ?? 0;

before(async () => {
  port = await freePort();
  const data = join(dir.path, 'data');
  // The store is made by the first start; the rate is set before the flood begins.
  server = await startServer(data, [], {}, `127.0.0.1:${port}`);
  procs.push(server.proc);
  key = await addKey(data, 'fleet');
  await server.proc.stop();
  const set = await runCli(['config', '--data', data, 'set', 'admission-rate', String(RATE)]);
  assert.equal(set.code, 0, set.stderr);
  server = await startServer(data, [], {}, `127.0.0.1:${port}`);
  procs.push(server.proc);
  flood = startFlood();
  // The flood is on when it has been turned away many times: it holds every token it can get.
  await waitFor(() => answered('503') >= 1000, 'the flood to be answered 503 a thousand times', 60_000);
});

after(async () => {
  if (flood?.child.exitCode === null) flood.child.kill('SIGKILL');
  await stopAll(procs);
  dir.remove();
});

test(`a flood of bare upgrades from one address: ${CLIENTS} real clients connect, and reconnect after a restart, within seconds; the flooder gets 503`, async () => {
  const before503 = answered('503');
  const bench = new Proc([
    'bench',
    'clients',
    '--gateway',
    `127.0.0.1:${port}`,
    '--key',
    key,
    '--count',
    String(CLIENTS),
    '--prefix',
    'fleet',
    '--interval',
    '0.5',
  ]);
  procs.push(bench);
  const connected = await bench
    .waitForMsg('all connected', CONNECT_DEADLINE_MS)
    .catch(() =>
      assert.fail(
        `not all ${CLIENTS} clients connected within ${CONNECT_DEADLINE_MS} ms under the flood: ${JSON.stringify(bench.lines.at(-1))}`,
      ),
    );
  assert.equal(connected.connected, CLIENTS);

  const metrics = await request(server.address, 'GET', '/metrics');
  assert.ok(
    (seriesValue(metrics.text, 'switchboard_refusals_total{reason="busy_address"}') ?? 0) > 0,
    'the flooder is refused for its address',
  );
  assert.ok(answered('503') > before503, 'the flooder is still answered 503');
  assert.ok((flood.latest()?.busyCodes.SB_ERR_BUSY ?? 0) > 0, 'with SB_ERR_BUSY');
  assert.ok(answered('503') > 20 * answered('101'), `the flooder is mostly refused: ${JSON.stringify(flood.latest())}`);

  // A restart under the flood: every client reconnects at once, and so does the flood. Each client
  // counts its return; a status line sampled while all are away is not certain (one may still be
  // closing while the first are back), so the count says who came back.
  const returned = (l: Record<string, unknown>) => (l.returns as { count: number } | undefined)?.count ?? 0;
  const from = bench.lines.length;
  const returnedBefore = returned(bench.lines.at(-1)!);
  await server.proc.stop();
  server = await startServer(server.data, [], {}, `127.0.0.1:${port}`);
  procs.push(server.proc);
  await bench
    .waitForLine(
      (l) => l.msg === 'bench clients' && l.connected === CLIENTS && returned(l) >= returnedBefore + CLIENTS,
      `all ${CLIENTS} reconnected`,
      RECONNECT_DEADLINE_MS,
      from,
    )
    .catch(() =>
      assert.fail(
        `not all ${CLIENTS} clients reconnected within ${RECONNECT_DEADLINE_MS} ms of the restart under the flood: ${JSON.stringify(bench.lines.at(-1))}`,
      ),
    );
  await stopAll([bench]);
});

test('two other addresses that prove no key are each admitted while one address floods', async () => {
  const admitted = await Promise.all(OTHERS.map((source) => admittedFrom(source, Date.now() + CONNECT_DEADLINE_MS)));
  for (const a of admitted)
    assert.match(a, /"type":"challenge"/, 'an admitted upgrade gets its WebSocket and the challenge');
  const metrics = await request(server.address, 'GET', '/metrics');
  assert.ok(
    (seriesValue(metrics.text, 'switchboard_refusals_total{reason="busy_address"}') ?? 0) > 0,
    'the flooder is refused for its address',
  );
});

/**
 * Upgrades from `source` until one is admitted, waiting each 503's retry hint as a client does; fails
 * if a hint reaches past the deadline. Returns what the admitted upgrade received.
 */
async function admittedFrom(source: string, deadline: number): Promise<string> {
  for (;;) {
    const answer = await upgradeAnswer(source);
    if (answer.status === 101) return answer.text;
    assert.equal(answer.status, 503, `${source}: ${answer.text}`);
    const hint = (JSON.parse(answer.text.slice(answer.text.indexOf('{'))) as { error: { retryAfterMs: number } }).error
      .retryAfterMs;
    assert.ok(Date.now() + hint < deadline, `${source} was told to come back in ${hint} ms`);
    await sleep(hint);
  }
}

/** One bare upgrade to /v1/client from `source`: the status and what came with it (a 101: the first frame). */
function upgradeAnswer(source: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress: source }, () =>
      socket.write(
        `GET /v1/client HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n\r\n`,
      ),
    );
    let text = '';
    const timer = setTimeout(() => finish(), 10_000);
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      if (status === 0) reject(new Error(`${source}: no answer to the upgrade: ${JSON.stringify(text)}`));
      else resolve({ status, text });
    };
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
      // A 503 ends with its JSON body; a 101 is followed by the challenge frame.
      if (/^HTTP\/1\.1 503/.test(text) ? text.endsWith('}') : text.includes('"type":"challenge"')) finish();
    });
    socket.on('error', () => undefined);
    socket.on('close', finish);
  });
}
