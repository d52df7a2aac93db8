/**
 * Relayed sessions end to end, with real processes: `control forward` and `control exec` through a
 * standalone server to a client, carrying HTTP, half-closed streams, many connections at once, a
 * deliberately slow reader (memory must stay bounded on every hop), teardown when either end dies,
 * the client's own policy, and no leaked sockets after many sessions.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type net from 'node:net';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import type { ControlClient } from '../src/control/controlClient.js';
import { runExec } from '../src/control/exec.js';
import { addKey, Proc, startClient, startServer, tempDir, waitFor, type RunningServer } from './helpers/harness.js';
import {
  browse,
  connectControl,
  connectTcp,
  controlCli,
  echoRoundTrip,
  echoService,
  fdCount,
  httpFileService,
  httpGet,
  patternSha,
  patternStream,
  processAlive,
  readAll,
  rssBytes,
  sha256,
  sleep,
  startForwardProc,
  stopAll,
  tcpService,
  type Service,
} from './helpers/sb.js';

const dir = tempDir('sb-relay-');
const procs: Proc[] = [];
const services: Service[] = [];
let server: RunningServer;
let key: string;
let control: ControlClient;
let client: Proc;

const FILE = randomBytes(24 * 1024 * 1024);
const SLOW_TOTAL = 200 * 1024 * 1024;
const HALF_ANSWER = 16 * 1024 * 1024;
const MB = 1024 * 1024;

let echo: Service;
let http: Service;
let half: Service;
let fast: Service;
let refusedPort: Service;
let fastWritten = () => 0;
const halfSeen: { received: number; sawEnd: boolean; closed: boolean }[] = [];

async function sessionsOnServer(): Promise<number> {
  const [info] = await control.servers();
  return info!.sessions;
}

before(async () => {
  server = await startServer(`${dir.path}/data`);
  key = await addKey(server.data, 'relay');
  echo = await echoService();
  http = await httpFileService(FILE);
  // Reads until EOF, then answers: the SHA-256 of what it got, a newline, and a large body.
  half = await tcpService((s) => {
    const seen = { received: 0, sawEnd: false, closed: false };
    halfSeen.push(seen);
    s.on('close', () => (seen.closed = true));
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => {
      seen.received += c.length;
      chunks.push(c);
    });
    s.on('end', () => {
      seen.sawEnd = true;
      s.write(`${sha256(Buffer.concat(chunks))}\n`);
      patternStream(HALF_ANSWER).pipe(s);
    });
  });
  // Writes as fast as the session lets it: a large stream, with the service honouring backpressure.
  let current: net.Socket | undefined;
  fast = await tcpService((s) => {
    current = s;
    patternStream(SLOW_TOTAL).pipe(s);
  });
  fastWritten = () => current?.bytesWritten ?? 0;
  refusedPort = await echoService();
  services.push(echo, http, half, fast, refusedPort);
  const allow = [echo.port, http.port, half.port, fast.port].join(',');
  client = await startClient([
    '--gateway',
    server.address,
    '--key',
    key,
    '--name',
    'relay-1',
    '--state',
    `${dir.path}/c1`,
    '--allow-forward',
    allow,
    '--allow-exec',
  ]);
  procs.push(client);
  control = await connectControl(server.address, key);
});

after(async () => {
  control?.close();
  await stopAll(procs);
  await stopAll(server ? [server.proc] : []);
  await Promise.all(services.map((s) => s.close()));
  dir.remove();
});

test('forward: an HTTP download of a large file arrives intact, and small requests work after it', async () => {
  const fwd = await startForwardProc(server.address, key, 'relay-1', http.port);
  procs.push(fwd.proc);
  const big = await httpGet(fwd.port, '/file');
  assert.equal(big.status, 200);
  assert.equal(big.length, FILE.length);
  assert.equal(big.sha, sha256(FILE));
  const small = await httpGet(fwd.port, '/');
  assert.equal(small.body.toString(), 'hello\n');
  await fwd.proc.stop();
});

test('forward: a half-closed connection (EOF one way) still carries the answer the other way', async () => {
  const fwd = await startForwardProc(server.address, key, 'relay-1', half.port);
  procs.push(fwd.proc);
  for (let round = 0; round < 3; round++) {
    const request = randomBytes(2 * MB);
    const socket = await connectTcp(fwd.port);
    const answer = readAll(socket);
    socket.end(request); // send, then shut down our write side only
    const got = await answer;
    const newline = got.indexOf(0x0a);
    assert.equal(got.subarray(0, newline).toString(), sha256(request), 'the service got every byte and the EOF');
    const body = got.subarray(newline + 1);
    assert.equal(body.length, HALF_ANSWER, 'the whole answer sent after EOF arrived');
    assert.equal(sha256(body), patternSha(HALF_ANSWER));
  }
  assert.ok(halfSeen.length >= 3 && halfSeen.every((s) => s.sawEnd));
  await fwd.proc.stop();
});

test('forward: a half-close followed by the service closing loses no byte when the reader is slow', async () => {
  const fwd = await startForwardProc(server.address, key, 'relay-1', half.port);
  procs.push(fwd.proc);
  const request = randomBytes(64 * 1024);
  const socket = await connectTcp(fwd.port);
  socket.end(request);
  // A slow reader: every chunk is followed by a pause, so the service finishes and closes long
  // before the reader has everything, and the tail of the answer is still in the relay's buffers.
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve) => {
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      socket.pause();
      setTimeout(() => socket.resume(), 4);
    });
    socket.once('close', () => resolve());
  });
  const got = Buffer.concat(chunks);
  const newline = got.indexOf(0x0a);
  assert.equal(got.subarray(0, newline).toString(), sha256(request));
  assert.equal(got.length - newline - 1, HALF_ANSWER, 'every byte of the answer arrived');
  assert.equal(sha256(got.subarray(newline + 1)), patternSha(HALF_ANSWER));
  await fwd.proc.stop();
});

test('forward: many concurrent connections each get their own intact stream', async () => {
  const fwd = await startForwardProc(server.address, key, 'relay-1', echo.port);
  procs.push(fwd.proc);
  const payloads = Array.from({ length: 24 }, () => randomBytes(256 * 1024 + Math.floor(Math.random() * 4096)));
  const results = await Promise.all(
    payloads.map(async (payload) => {
      const socket = await connectTcp(fwd.port);
      const back = readAll(socket);
      socket.end(payload);
      return back;
    }),
  );
  results.forEach((got, i) =>
    assert.equal(sha256(got), sha256(payloads[i]!), `connection ${i}; control stderr: ${fwd.proc.stderr}`),
  );
  // Concurrent HTTP downloads too.
  const http4 = await startForwardProc(server.address, key, 'relay-1', http.port);
  procs.push(http4.proc);
  const downloads = await Promise.all(Array.from({ length: 4 }, () => httpGet(http4.port, '/file')));
  for (const d of downloads) assert.equal(d.sha, sha256(FILE));
  await Promise.all([fwd.proc.stop(), http4.proc.stop()]);
});

test('exec: stdout, stderr and the exit code come back', async () => {
  const result = await controlCli(server.address, key, [
    'exec',
    'relay-1',
    '--',
    'sh',
    '-c',
    'echo out; echo err >&2; exit 3',
  ]);
  assert.equal(result.code, 3, result.stderr);
  assert.equal(result.stdout, 'out\n');
  assert.equal(result.stderr, 'err\n');
  const ok = await controlCli(server.address, key, ['exec', 'relay-1', '--', 'true']);
  assert.equal(ok.code, 0, ok.stderr);
});

test('exec: stdin is piped to the command, large input included', async () => {
  const small = await controlCli(
    server.address,
    key,
    ['exec', 'relay-1', '--', 'cat'],
    {},
    { input: 'hello through the relay\n' },
  );
  assert.equal(small.code, 0, small.stderr);
  assert.equal(small.stdout, 'hello through the relay\n');
  const input = randomBytes(3 * MB);
  const big = await controlCli(server.address, key, ['exec', 'relay-1', '--', 'sha256sum'], {}, { input });
  assert.equal(big.code, 0, big.stderr);
  assert.equal(big.stdout.split(' ')[0], sha256(input));
});

test('exec: a command that is not found exits 127 with a clear message', async () => {
  const result = await controlCli(server.address, key, ['exec', 'relay-1', '--', 'no-such-command-sb']);
  assert.equal(result.code, 127);
  assert.match(result.stderr, /cannot run no-such-command-sb/);
});

test('exec: the control exits with the command even when its own stdin stays open', async () => {
  const proc = new Proc([
    'control',
    '--gateway',
    server.address,
    '--key',
    key,
    'exec',
    'relay-1',
    '--',
    'echo',
    'done',
  ]);
  procs.push(proc); // its stdin is a pipe that is never closed
  const code = await Promise.race([proc.exited, sleep(20_000).then(() => 'hung' as const)]);
  assert.equal(
    code,
    0,
    `control exec did not exit (stdout ${JSON.stringify(proc.stdout)}, stderr ${JSON.stringify(proc.stderr)})`,
  );
  assert.equal(proc.stdout, 'done\n');
});

test('policy: a port not in --allow-forward is refused at the control, and the client stays connected', async () => {
  const [before] = await browse(server.address, key);
  const linesBefore = client.lines.length;
  const fwd = await startForwardProc(server.address, key, 'relay-1', refusedPort.port);
  procs.push(fwd.proc);
  const socket = await connectTcp(fwd.port);
  const got = await readAll(socket); // the control closes the local connection
  assert.equal(got.length, 0);
  await waitFor(() => fwd.proc.stderr.includes('failed'), 'the refusal on the control');
  assert.match(fwd.proc.stderr, new RegExp(`port ${refusedPort.port} is not in this client's --allow-forward list`));
  // Through the SDK, the refusal has its stable code.
  await assert.rejects(
    control.open('relay-1', { kind: 'forward', port: refusedPort.port }),
    (err: Error & { code?: string }) => err.code === 'SB_ERR_POLICY_REFUSED',
  );
  await assert.rejects(
    control.open('relay-1', { kind: 'forward', port: echo.port, host: '10.1.2.3' }),
    /forwards only to its own machine/,
  );
  const [afterRefusal] = await browse(server.address, key);
  assert.equal(afterRefusal?.connectedAt, before?.connectedAt, 'the client kept its connection');
  assert.ok(!client.lines.slice(linesBefore).some((l) => l.status === 'waiting'), 'the client did not reconnect');
  await fwd.proc.stop();
});

test('policy: exec on a client without --allow-exec is refused with a clear error; the client stays connected', async () => {
  const noExec = await startClient([
    '--gateway',
    server.address,
    '--key',
    key,
    '--name',
    'relay-noexec',
    '--state',
    `${dir.path}/c-noexec`,
    '--allow-forward',
    String(echo.port),
  ]);
  procs.push(noExec);
  const result = await controlCli(server.address, key, ['exec', 'relay-noexec', '--', 'true']);
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /does not allow commands \(start it with --allow-exec\)/);
  assert.equal(result.stderr.trim().split('\n').length, 1, 'one clear line');
  const listed = await browse(server.address, key);
  assert.ok(listed.some((c) => c.name === 'relay-noexec'));
  // Still serves what it does allow.
  const socket = await control.open('relay-noexec', { kind: 'forward', port: echo.port });
  assert.equal(await echoRoundTrip(socket as net.Socket, 'still here'), 'still here');
  socket.destroy();
  await stopAll([noExec]);
});

test('relay: a slow reader holds memory bounded on the server, the client and the control; bytes arrive intact', async (t) => {
  const fwd = await startForwardProc(server.address, key, 'relay-1', fast.port);
  procs.push(fwd.proc);
  // Warm every hop with a small session first, so the baseline includes the code paths.
  const warmFwd = await startForwardProc(server.address, key, 'relay-1', echo.port);
  procs.push(warmFwd.proc);
  const warm = await connectTcp(warmFwd.port);
  assert.equal(await echoRoundTrip(warm, 'warm'), 'warm');
  warm.destroy();
  await warmFwd.proc.stop();
  const pids = { server: server.proc.child.pid!, client: client.child.pid!, control: fwd.proc.child.pid! };
  const base = { server: rssBytes(pids.server), client: rssBytes(pids.client), control: rssBytes(pids.control) };

  const socket = await connectTcp(fwd.port);
  socket.pause();
  // Wait until the writer is held back: its count stops growing (the whole path is full).
  let last = -1;
  let still = 0;
  await waitFor(
    async () => {
      const now = fastWritten();
      still = now === last && now > 0 ? still + 1 : 0;
      last = now;
      return still >= 6;
    },
    'the fast writer to be held back by the slow reader',
    60_000,
    200,
  );
  const written = fastWritten();
  assert.ok(
    written < SLOW_TOTAL / 2,
    `backpressure stopped the writer early (it wrote ${written} of ${SLOW_TOTAL} bytes)`,
  );
  const bound = 60 * MB;
  const grown = {
    server: rssBytes(pids.server) - base.server,
    client: rssBytes(pids.client) - base.client,
    control: rssBytes(pids.control) - base.control,
  };
  t.diagnostic(
    `paused after ${(written / MB).toFixed(1)} MB written; RSS growth (MB): ${Object.entries(grown)
      .map(([w, g]) => `${w} ${(g / MB).toFixed(1)}`)
      .join(', ')}`,
  );
  for (const [who, growth] of Object.entries(grown))
    assert.ok(growth < bound, `${who} RSS grew by ${(growth / MB).toFixed(1)} MB while the reader was paused`);

  // Read slowly for a while: memory stays bounded; then read at full speed and check every byte.
  const hash = createHash('sha256');
  let received = 0;
  for (let i = 0; i < 20; i++) {
    const chunk = socket.read(64 * 1024) as Buffer | null;
    if (chunk) {
      hash.update(chunk);
      received += chunk.length;
    }
    await sleep(20);
  }
  for (const [who, pid] of Object.entries(pids)) {
    const growth = rssBytes(pid) - base[who as keyof typeof base];
    assert.ok(growth < bound, `${who} RSS grew by ${(growth / MB).toFixed(1)} MB while the reader was slow`);
  }
  await new Promise<void>((resolve, reject) => {
    socket.on('data', (c: Buffer) => {
      hash.update(c);
      received += c.length;
    });
    socket.once('end', () => resolve());
    socket.once('error', reject);
    socket.resume();
  });
  socket.destroy();
  assert.equal(received, SLOW_TOTAL);
  assert.equal(hash.digest('hex'), patternSha(SLOW_TOTAL));
  await fwd.proc.stop();
});

test('relay: exec output to a slow reader is held back too; memory stays bounded and every byte arrives', async (t) => {
  const TOTAL = 100_000_000;
  const pids = { server: server.proc.child.pid!, client: client.child.pid! };
  const base = { server: rssBytes(pids.server), client: rssBytes(pids.client) };
  let got = 0;
  let held: (() => void) | undefined;
  let release = false;
  const out = new Writable({
    highWaterMark: 64 * 1024,
    write(chunk: Buffer, _enc, done) {
      got += chunk.length;
      if (release) done();
      else held = done;
    },
  });
  const err = new Writable({ write: (_c, _e, done) => done() });
  const run = runExec(control, 'relay-1', ['head', '-c', String(TOTAL), '/dev/zero'], { stdout: out, stderr: err });
  let last = -1;
  let still = 0;
  await waitFor(
    () => {
      const now = got + out.writableLength;
      still = now === last && now > 0 ? still + 1 : 0;
      last = now;
      return still >= 6;
    },
    'the command output to be held back',
    60_000,
    200,
  );
  const grown = { server: rssBytes(pids.server) - base.server, client: rssBytes(pids.client) - base.client };
  t.diagnostic(
    `held after ${((got + out.writableLength) / MB).toFixed(1)} MB; RSS growth (MB): server ${(grown.server / MB).toFixed(1)}, client ${(grown.client / MB).toFixed(1)}`,
  );
  for (const [who, growth] of Object.entries(grown))
    assert.ok(growth < 60 * MB, `${who} RSS grew by ${(growth / MB).toFixed(1)} MB while the reader was stalled`);
  release = true;
  held?.();
  const exit = await run;
  assert.deepEqual(exit, { code: 0, signal: null });
  assert.equal(got, TOTAL);
});

test('teardown: killing the control end closes the service connections and ends the sessions', async () => {
  await waitFor(async () => (await sessionsOnServer()) === 0, 'sessions of earlier tests to end');
  const closed: string[] = [];
  let streamer: NodeJS.Timeout | undefined;
  const svc = await tcpService((s) => {
    s.once('data', (first: Buffer) => {
      const kind = first.toString();
      s.on('close', () => closed.push(kind));
      if (kind === 'quiet') {
        s.write('ok'); // then waits; like most services (sshd, HTTP) it closes when its peer does
        s.on('end', () => s.end());
      } else {
        streamer = setInterval(() => s.writable && s.write('tick '.repeat(200)), 20);
        s.on('close', () => clearInterval(streamer));
      }
    });
  });
  services.push(svc);
  const c2 = await startClient([
    '--gateway',
    server.address,
    '--key',
    key,
    '--name',
    'relay-td1',
    '--state',
    `${dir.path}/c-td1`,
    '--allow-forward',
    String(svc.port),
  ]);
  procs.push(c2);
  const fwd = await startForwardProc(server.address, key, 'relay-td1', svc.port);
  procs.push(fwd.proc);
  const quiet = await connectTcp(fwd.port);
  const streaming = await connectTcp(fwd.port);
  for (const s of [quiet, streaming]) s.on('error', () => undefined);
  quiet.write('quiet');
  await new Promise((r) => quiet.once('data', r));
  streaming.write('streaming');
  await new Promise((r) => streaming.once('data', r));
  streaming.resume();
  assert.equal(await sessionsOnServer(), 2);
  await fwd.proc.stop('SIGKILL');
  await waitFor(
    () => closed.includes('quiet') && closed.includes('streaming'),
    'both service connections on the client machine to close',
  );
  await waitFor(async () => (await sessionsOnServer()) === 0, 'the sessions to be gone from the server');
  quiet.destroy();
  streaming.destroy();
  clearInterval(streamer);
  await stopAll([c2]);
});

test('teardown: killing the client closes the control end and ends the session', async () => {
  await waitFor(async () => (await sessionsOnServer()) === 0, 'sessions of earlier tests to end');
  const svc = await tcpService((s) => s.write('hi'));
  services.push(svc);
  const c3 = await startClient([
    '--gateway',
    server.address,
    '--key',
    key,
    '--name',
    'relay-td2',
    '--state',
    `${dir.path}/c-td2`,
    '--allow-forward',
    String(svc.port),
    '--allow-exec',
  ]);
  procs.push(c3);
  const fwd = await startForwardProc(server.address, key, 'relay-td2', svc.port);
  procs.push(fwd.proc);
  const socket = await connectTcp(fwd.port);
  const closed = readAll(socket);
  await new Promise((r) => socket.once('data', r));
  const exec = new Proc([
    'control',
    '--gateway',
    server.address,
    '--key',
    key,
    'exec',
    'relay-td2',
    '--',
    'sh',
    '-c',
    'echo started; exec sleep 30',
  ]);
  procs.push(exec);
  await waitFor(() => exec.stdout.includes('started'), 'the remote command to start');
  assert.equal(await sessionsOnServer(), 2);
  await c3.stop('SIGKILL');
  await closed; // the local connection on the control side is closed
  const code = await exec.exited;
  assert.notEqual(code, 0);
  assert.match(exec.stderr, /ended before the command reported its exit status/);
  await waitFor(async () => (await sessionsOnServer()) === 0, 'the sessions to be gone from the server');
  await waitFor(
    async () => !(await browse(server.address, key)).some((c) => c.name === 'relay-td2'),
    'the killed client to leave browse',
  );
  await fwd.proc.stop();
});

test('teardown: killing a control running exec kills the command on the client', async () => {
  await waitFor(async () => (await sessionsOnServer()) === 0, 'sessions of earlier tests to end');
  const proc = new Proc([
    'control',
    '--gateway',
    server.address,
    '--key',
    key,
    'exec',
    'relay-1',
    '--',
    'sh',
    '-c',
    'echo $$; while :; do echo tick; sleep 0.1; done',
  ]);
  procs.push(proc);
  const pid = Number((await waitFor(() => /^(\d+)$/m.exec(proc.stdout) ?? undefined, 'the remote pid'))[1]);
  assert.ok(processAlive(pid));
  await proc.stop('SIGKILL');
  await waitFor(() => !processAlive(pid), 'the remote command to be killed');
  await waitFor(async () => (await sessionsOnServer()) === 0, 'the exec session to be gone');
});

test('no leaks: after many sessions the server and client return to their baseline of open descriptors', async () => {
  await waitFor(async () => (await sessionsOnServer()) === 0, 'sessions of earlier tests to end');
  const fwd = await startForwardProc(server.address, key, 'relay-1', echo.port);
  procs.push(fwd.proc);
  // One session first, so that lazily opened descriptors are in the baseline.
  const first = await connectTcp(fwd.port);
  assert.equal(await echoRoundTrip(first, 'x'), 'x');
  first.destroy();
  await waitFor(async () => (await sessionsOnServer()) === 0, 'the warm-up session to end');
  const pids = { server: server.proc.child.pid!, client: client.child.pid!, control: fwd.proc.child.pid! };
  const base = { server: fdCount(pids.server), client: fdCount(pids.client), control: fdCount(pids.control) };

  for (let batch = 0; batch < 4; batch++) {
    await Promise.all(
      Array.from({ length: 20 }, async (_v, i) => {
        const socket = await connectTcp(fwd.port);
        socket.on('error', () => undefined);
        const text = `batch ${batch} conn ${i} `.repeat(50);
        assert.equal(await echoRoundTrip(socket, text), text);
        if (i % 3 === 0)
          socket.resetAndDestroy(); // abrupt
        else if (i % 3 === 1) socket.destroy();
        else {
          socket.end();
          await new Promise((r) => socket.once('close', r));
        }
      }),
    );
  }
  // Refused sessions must not leak either.
  for (let i = 0; i < 5; i++)
    await assert.rejects(control.open('relay-1', { kind: 'forward', port: refusedPort.port }));

  await waitFor(async () => (await sessionsOnServer()) === 0, 'every session to end');
  let now = base;
  await waitFor(
    () => {
      now = { server: fdCount(pids.server), client: fdCount(pids.client), control: fdCount(pids.control) };
      return now.server <= base.server && now.client <= base.client && now.control <= base.control;
    },
    'descriptors to return to baseline',
    15_000,
    200,
  ).catch((err: Error) => {
    throw new Error(`${err.message}: baseline ${JSON.stringify(base)}, now ${JSON.stringify(now)}`);
  });
  await fwd.proc.stop();
});

test('servers --json reports the session count, and 0 once sessions are over', async () => {
  const socket = await control.open('relay-1', { kind: 'forward', port: echo.port });
  await echoRoundTrip(socket as net.Socket, 'open');
  const during = await controlCli(server.address, key, ['servers', '--json']);
  assert.equal(during.code, 0, during.stderr);
  const [info] = JSON.parse(during.stdout) as {
    address: string;
    role: string;
    status: string;
    clients: number;
    sessions: number;
  }[];
  assert.deepEqual([info!.address, info!.role, info!.status, info!.sessions], [server.address, 'standalone', 'up', 1]);
  assert.ok(info!.clients >= 1);
  socket.destroy();
  await waitFor(async () => {
    const r = await controlCli(server.address, key, ['servers', '--json']);
    return r.code === 0 && (JSON.parse(r.stdout) as { sessions: number }[])[0]!.sessions === 0;
  }, 'servers --json to show sessions 0');
});
