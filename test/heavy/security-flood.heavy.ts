/**
 * docs/security.md, "Abuse and availability", measured on a real standalone server:
 * - a flood of a few thousand junk connections (silent half-open, garbage, TLS junk, slowloris,
 *   oversized headers, frames and bodies) from 20 non-exempt loopback addresses, spread over two
 *   child processes (test/security-flood-worker.ts): valid clients stay connected, new controls
 *   connect and open sessions that carry bytes, a new client connects, the server's memory stays
 *   bounded, silent and slowloris connections are closed at their deadlines, and every socket is
 *   gone once the flood stops;
 * - the per-address connection cap closes the excess from one address, not from others, and
 *   127.0.0.1 is exempt;
 * - admission-rate: a burst of clients above the rate gets 503 SB_ERR_BUSY with a retry hint, and
 *   every client connects in the end.
 * Sizes are tunable: SB_FLOOD_CONNECTIONS (default 3000), SB_FLOOD_SECONDS (at least, default 20),
 * SB_FLOOD_WORKERS (2), SB_FLOOD_SESSIONS (at least, default 5).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { request, setSettingLive } from '../helpers/api.js';
import {
  addKey,
  Proc,
  ROOT,
  startClient,
  startServer,
  tempDir,
  waitFor,
  type RunningServer,
} from '../helpers/harness.js';
import type { FloodStats } from '../security-flood-worker.js';
import {
  connectControl,
  echoRoundTrip,
  echoService,
  fdCount,
  rssBytes,
  sleep,
  stopAll,
  type Service,
} from '../helpers/sb.js';

const CONNECTIONS = Number(process.env.SB_FLOOD_CONNECTIONS ?? 3000);
const SECONDS = Number(process.env.SB_FLOOD_SECONDS ?? 20);
const WORKERS = Number(process.env.SB_FLOOD_WORKERS ?? 2);
/** Sessions opened (one after another) while the flood runs. */
const SESSIONS = Number(process.env.SB_FLOOD_SESSIONS ?? 5);
const SOURCES = 20;
/** Generous: the flood must not grow the server without bound, not fit a tight budget. */
const RSS_HEADROOM = 384 * 1024 * 1024;

const dir = tempDir('sb-sec-flood-');
const procs: Proc[] = [];
const workers: ChildProcess[] = [];
let server: RunningServer;
let key: string;
let echo: Service;
let bench: Proc;

/** A flood worker; it runs until SIGTERM (or a safety limit), then prints its final figures. */
function flood(
  sources: string[],
  perSource: number,
): { child: ChildProcess; done: Promise<FloodStats>; latest: () => FloodStats | undefined } {
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'dist', 'test', 'security-flood-worker.js'),
      JSON.stringify({ target: server.address, sources, perSource, seconds: 170, reopenMs: 1000 }),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  workers.push(child);
  let latest: FloodStats | undefined;
  let partial = '';
  const done = new Promise<FloodStats>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        latest = JSON.parse(line) as FloodStats;
        if (latest.done) resolve(latest);
      }
    });
    child.on('exit', (code) => (latest?.done ? undefined : reject(new Error(`flood worker exited with ${code}`))));
  });
  return { child, done, latest: () => latest };
}

/** One session through a fresh control: login, open, a round trip of bytes, close. */
async function session(label: string): Promise<void> {
  try {
    await sessionOnce(label);
  } catch {
    // A dial can time out while the accept queue is long: one more try, as any client would.
    retries++;
    await sessionOnce(`${label} (again)`);
  }
}

let retries = 0;

async function sessionOnce(label: string): Promise<void> {
  const control = await connectControl(server.address, key);
  try {
    const stream = await control.open('steady', { kind: 'forward', port: echo.port });
    const text = `${label} ${randomBytes(8).toString('hex')}\n`;
    assert.equal(await echoRoundTrip(stream as net.Socket, text, 20_000), text);
    stream.destroy();
  } finally {
    control.close();
  }
}

before(async () => {
  echo = await echoService();
  server = await startServer(join(dir.path, 'data'));
  procs.push(server.proc);
  key = await addKey(server.data, 'flood');
  procs.push(
    await startClient([
      '--gateway',
      server.address,
      '--key',
      key,
      '--name',
      'steady',
      '--state',
      join(dir.path, 'state-steady'),
      '--allow-forward',
      String(echo.port),
    ]),
  );
  bench = new Proc([
    'bench',
    'clients',
    '--gateway',
    server.address,
    '--key',
    key,
    '--count',
    '50',
    '--prefix',
    'held',
    '--interval',
    '1',
  ]);
  procs.push(bench);
  await bench.waitForMsg('all connected', 30_000);
});

after(async () => {
  for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
  await stopAll(procs);
  await echo.close();
  dir.remove();
});

test(`a flood of ${CONNECTIONS} junk connections: valid clients stay, sessions work, memory stays bounded, every junk socket is closed`, async (t) => {
  const pid = server.proc.child.pid!;
  for (let i = 0; i < 3; i++) await session(`warm-up ${i}`);
  const baseline = { rss: rssBytes(pid), fds: fdCount(pid) };
  const benchLinesBefore = bench.lines.length;
  const sources = Array.from({ length: SOURCES }, (_, i) => `127.0.80.${i + 1}`);
  const perWorker = Math.ceil(SOURCES / WORKERS);
  const perSource = Math.ceil(CONNECTIONS / SOURCES);
  const floods = Array.from({ length: WORKERS }, (_, w) =>
    flood(sources.slice(w * perWorker, (w + 1) * perWorker), perSource),
  );
  const floodStarted = Date.now();

  let peakRss = baseline.rss;
  let peakFds = baseline.fds;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peakRss = Math.max(peakRss, rssBytes(pid));
      peakFds = Math.max(peakFds, fdCount(pid));
      await sleep(250);
    }
  })();

  // While the flood runs: a new client, and sessions through new controls one after another, for
  // at least SB_FLOOD_SECONDS (long enough for the 10 s deadlines) and at least SESSIONS sessions.
  const results: { ok: boolean; error?: string }[] = [];
  const allDone = Promise.all(floods.map((f) => f.done));
  // Two kinds of seven (silent, slowloris) hold their connection until the server's 10 s deadline
  // and are back 1-2 s later: about a quarter of the slots are open at any time. The five others
  // are closed at once, so how many of those are open at a given moment depends on the machine.
  const heldOpen = CONNECTIONS / 6;
  await waitFor(
    () => floods.reduce((n, f) => n + (f.latest()?.open ?? 0), 0) >= heldOpen,
    'the flood to ramp up',
    60_000,
  );
  const late = await startClient([
    '--gateway',
    server.address,
    '--key',
    key,
    '--name',
    'late',
    '--state',
    join(dir.path, 'state-late'),
  ]);
  procs.push(late);
  while (results.length < SESSIONS || Date.now() - floodStarted < SECONDS * 1000) {
    try {
      await session(`during-${results.length}`);
      results.push({ ok: true });
    } catch (err) {
      results.push({ ok: false, error: (err as Error).message });
    }
    await sleep(200);
  }
  for (const f of floods) f.child.kill('SIGTERM');
  const stats = await allDone;
  sampling = false;
  await sampler;

  const sum = (f: (s: FloodStats) => number) => stats.reduce((n, s) => n + f(s), 0);
  const closed = (kind: string) => sum((s) => s.closedByServer[kind] ?? 0);
  const figures = {
    junkConnectionsOpened: sum((s) => s.opened),
    junkPeakOpenAtOnce: sum((s) => s.peakOpen),
    closedByServer: Object.fromEntries(
      ['silent', 'garbage', 'tls-junk', 'slowloris', 'big-header', 'big-frame', 'big-body'].map((k) => [k, closed(k)]),
    ),
    connectErrors: stats.map((s) => s.connectErrors),
    sessionsDuringFlood: results.length,
    sessionsFailed: results.filter((r) => !r.ok).length,
    sessionRetries: retries,
    floodSeconds: Math.round((Date.now() - floodStarted) / 1000),
    rssBaselineMiB: Math.round(baseline.rss / 2 ** 20),
    rssPeakMiB: Math.round(peakRss / 2 ** 20),
    fdsBaseline: baseline.fds,
    fdsPeak: peakFds,
  };
  t.diagnostic(`flood figures: ${JSON.stringify(figures)}`);

  assert.ok(
    figures.junkPeakOpenAtOnce >= heldOpen,
    `junk connections held open at once: ${figures.junkPeakOpenAtOnce}`,
  );
  assert.ok(
    figures.junkConnectionsOpened >= CONNECTIONS * 2,
    `and many more over the run: ${figures.junkConnectionsOpened}`,
  );
  assert.deepEqual(
    results.filter((r) => !r.ok),
    [],
    'every session during the flood worked',
  );
  assert.ok(
    peakRss - baseline.rss < RSS_HEADROOM,
    `server RSS grew by ${figures.rssPeakMiB - figures.rssBaselineMiB} MiB`,
  );
  // Every kind of junk was closed by the server itself: at once for bad input, at the first-byte
  // (silent) and header (slowloris) deadlines for the slow ones.
  for (const kind of ['garbage', 'tls-junk', 'big-header', 'big-frame', 'big-body', 'silent', 'slowloris']) {
    assert.ok(closed(kind) > 0, `the server closed ${kind} connections: ${JSON.stringify(figures.closedByServer)}`);
  }
  // Valid clients: never dropped.
  const steady = procs.find((p) => p.child.spawnargs.includes('steady'))!;
  assert.ok(!steady.lines.some((l) => l.status === 'waiting'), 'the steady client was never disconnected');
  assert.ok(!late.lines.some((l) => l.status === 'waiting'));
  const benchStatus = bench.lines.slice(benchLinesBefore).filter((l) => l.msg === 'bench clients');
  assert.ok(
    benchStatus.length > 0 && benchStatus.every((l) => l.connected === 50),
    'the 50 held clients stayed connected',
  );
  // And once the flood stops, every junk socket is gone from the server.
  await waitFor(
    () => fdCount(pid) <= baseline.fds + 10,
    `the server's descriptors to return to ${baseline.fds} (now ${fdCount(pid)})`,
    30_000,
  );
  await session('after');
});

test('the per-address cap closes the excess from one address; other addresses and 127.0.0.1 are not affected', async () => {
  await setSettingLive(server, 'max-connections-per-address', '50');
  const sockets: net.Socket[] = [];
  try {
    const open = (localAddress: string) =>
      new Promise<{ socket: net.Socket; closed: () => boolean }>((resolve, reject) => {
        let isClosed = false;
        const socket = net.connect(
          { host: '127.0.0.1', port: Number(server.address.split(':')[1]), localAddress },
          () => resolve({ socket, closed: () => isClosed }),
        );
        socket.on('close', () => (isClosed = true));
        socket.on('error', (err) => (isClosed ? undefined : reject(err)));
        sockets.push(socket);
      });
    const capped: { socket: net.Socket; closed: () => boolean }[] = [];
    for (let i = 0; i < 80; i++) capped.push(await open('127.0.81.1'));
    await waitFor(() => capped.filter((c) => c.closed()).length >= 30, 'the excess to be closed', 5000);
    assert.equal(capped.filter((c) => c.closed()).length, 30, 'exactly the connections over the cap were closed');
    assert.ok(
      capped.slice(0, 50).every((c) => !c.closed()),
      'the first 50 are held',
    );
    // From the capped address even a valid request is turned away; from another it is answered.
    const refused = await request(server.address, 'GET', '/healthz', undefined, { localAddress: '127.0.81.1' }).then(
      (a) => a.status,
      () => 0,
    );
    assert.equal(refused, 0);
    assert.equal(
      (await request(server.address, 'GET', '/healthz', undefined, { localAddress: '127.0.81.2' })).status,
      200,
    );
    const local: { socket: net.Socket; closed: () => boolean }[] = [];
    for (let i = 0; i < 80; i++) local.push(await open('127.0.0.1'));
    await sleep(300);
    assert.equal(local.filter((c) => c.closed()).length, 0, '127.0.0.1 is exempt');
  } finally {
    for (const s of sockets) s.destroy();
    await setSettingLive(server, 'max-connections-per-address', '1000');
  }
});

test('admission-rate: a burst above the rate gets 503 SB_ERR_BUSY with a retry hint, and every client connects in the end', async () => {
  await setSettingLive(server, 'admission-rate', '5');
  let burst: Proc | undefined;
  try {
    const upgrade = () =>
      `GET /v1/client HTTP/1.1\r\nHost: ${server.address}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n\r\n`;
    const answers = await Promise.all(Array.from({ length: 30 }, () => upgradeAnswer(upgrade())));
    const busy = answers.filter((a) => a.status === 503);
    assert.ok(busy.length >= 10, `most of a burst of 30 are turned away: ${answers.map((a) => a.status).join(',')}`);
    assert.ok(
      answers.some((a) => a.status === 101),
      'some are admitted',
    );
    for (const a of busy) {
      const error = (JSON.parse(a.body) as { error: { code: string; message: string } }).error;
      assert.equal(error.code, 'SB_ERR_BUSY');
      assert.match(error.message, /retry in \d+ ms/);
    }
    burst = new Proc([
      'bench',
      'clients',
      '--gateway',
      server.address,
      '--key',
      key,
      '--count',
      '40',
      '--prefix',
      'burst',
      '--interval',
      '0.5',
    ]);
    procs.push(burst);
    const done = await burst.waitForMsg('all connected', 90_000);
    assert.equal(done.connected, 40);
    const waited = burst.lines
      .filter((l) => l.msg === 'bench clients')
      .some((l) => Object.keys(l.waiting as object).some((reason) => /busy/.test(reason)));
    assert.ok(waited, 'some clients were told the server was busy and came back');
    const metrics = await request(server.address, 'GET', '/metrics');
    assert.match(metrics.text, /switchboard_refusals_total\{reason="busy"\} [1-9]/);
  } finally {
    if (burst) await stopAll([burst]);
    await setSettingLive(server, 'admission-rate', '2000');
  }
});

/** Sends an upgrade request and reads the answer's status and (for a refusal) its body; then hangs up. */
function upgradeAnswer(text: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port: Number(server.address.split(':')[1]) }, () =>
      socket.write(text),
    );
    let buf = '';
    const done = (answer: { status: number; body: string }) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      buf += chunk;
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(buf)?.[1] ?? 0);
      const length = Number(/content-length:\s*(\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
      if (status === 101 || buf.length - end - 4 >= length)
        done({ status, body: buf.slice(end + 4, end + 4 + length) });
    });
    socket.on('error', reject);
  });
}
