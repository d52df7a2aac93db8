/**
 * Issue 3, "Sessions across servers": forward and exec to a client on a member, through the primary
 * (control ⇄ primary ⇄ member ⇄ client). Servers on 127.0.44.x. The primary's own weight is 0, so
 * every client is placed on the member.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { Cluster, rssBytes, sha256, sleep, type ServerNode } from './helpers/cluster.js';
import { BIN, Proc, waitFor } from './helpers/harness.js';

let cluster: Cluster;
let member: ServerNode;
let client: Proc;
const services: net.Server[] = [];
const forwards = new Map<number, { proc: Proc; port: number }>();

const MB = 1024 * 1024;
/** MiB per bulk transfer. */
const CHUNKS = 32;
const BLOCK = randomBytes(MB);

/** Chunk i of a deterministic stream: a random block stamped with its index, so reordering shows. */
function seqOutput(n: number): string {
  const lines: string[] = [];
  for (let i = 1; i <= n; i++) lines.push(`${i}\n`);
  return lines.join('');
}

function chunk(i: number): Buffer {
  const b = Buffer.from(BLOCK);
  b.writeUInt32BE(i, 0);
  return b;
}

/** Resolves when the socket can take more, or will never again (no rejection, no leftover listener). */
function drainOrClose(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

async function writeAll(
  socket: net.Socket,
  chunks: number,
  hash?: ReturnType<typeof createHash>,
  sent?: { bytes: number },
): Promise<void> {
  for (let i = 0; i < chunks; i++) {
    if (socket.destroyed) return;
    const c = chunk(i);
    hash?.update(c);
    if (sent) sent.bytes += c.length;
    if (!socket.write(c)) await drainOrClose(socket);
  }
}

interface Service {
  port: number;
  /** Server-side sockets, for teardown checks. */
  sockets: net.Socket[];
}

/** Hashes all it receives; at EOF, answers with the hex digest and closes its side. */
async function hashService(): Promise<Service> {
  const sockets: net.Socket[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.push(socket);
    const hash = createHash('sha256');
    socket.on('data', (d) => hash.update(d));
    socket.on('end', () => socket.end(`${hash.digest('hex')}\n`));
    socket.on('error', () => socket.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  services.push(server);
  return { port: (server.address() as net.AddressInfo).port, sockets };
}

/** Streams `chunks` MiB with backpressure, then ends; records what it sent on each socket. */
async function sourceService(chunks: number): Promise<Service & { sent: { bytes: number; digest?: string }[] }> {
  const sockets: net.Socket[] = [];
  const sent: { bytes: number; digest?: string }[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.push(socket);
    const record: { bytes: number; digest?: string } = { bytes: 0 };
    sent.push(record);
    socket.on('error', () => socket.destroy());
    const hash = createHash('sha256');
    void writeAll(socket, chunks, hash, record).then(() => {
      record.digest = hash.digest('hex');
      socket.end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  services.push(server);
  return { port: (server.address() as net.AddressInfo).port, sockets, sent };
}

let hash: Service;
let source: Awaited<ReturnType<typeof sourceService>>;
let endless: Awaited<ReturnType<typeof sourceService>>;

async function startClient(): Promise<Proc> {
  const ports = [hash.port, source.port, endless.port].join(',');
  return cluster.client('sess', ['--allow-forward', ports, '--allow-exec']);
}

/** A `control forward` process to one of the client's ports, through the primary. */
async function forward(remotePort: number): Promise<{ proc: Proc; port: number }> {
  const existing = forwards.get(remotePort);
  if (existing && existing.proc.child.exitCode === null && existing.proc.child.signalCode === null) return existing;
  const proc = cluster.track(
    new Proc([
      'control',
      '--gateway',
      cluster.primary.address,
      '--key',
      cluster.key,
      'forward',
      'sess',
      `127.0.0.1:0:${remotePort}`,
    ]),
  );
  const line = await proc.waitForMsg('forwarding', 60_000);
  const f = { proc, port: Number(String(line.listen).split(':').at(-1)) };
  forwards.set(remotePort, f);
  return f;
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true }, () => {
      s.off('error', reject);
      // A reset that comes after a test is over must not surface as an error in the next one.
      s.on('error', () => undefined);
      resolve(s);
    });
    s.once('error', reject);
  });
}

async function sessionsOn(): Promise<{ primary: number; member: number }> {
  const rows = await cluster.serversNow();
  return {
    primary: rows.find((r) => r.address === cluster.primary.address)?.sessions ?? -1,
    member: rows.find((r) => r.address === member.address)?.sessions ?? -1,
  };
}

async function waitSessions(check: (s: { primary: number; member: number }) => boolean, what: string): Promise<void> {
  let last = { primary: -1, member: -1 };
  await waitFor(
    async () => check((last = await sessionsOn())),
    `${what} (last: ${JSON.stringify(last)})`,
    60_000,
    200,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last seen ${JSON.stringify(last)}`);
  });
}

before(async () => {
  hash = await hashService();
  source = await sourceService(CHUNKS);
  endless = await sourceService(4096);
  cluster = await Cluster.start({ subnet: 44, members: [{}], primaryWeight: 0, heartbeat: 2 });
  member = cluster.members[0]!;
  client = await startClient();
  const browse = await cluster.browse();
  assert.equal(browse.find((c) => c.name === 'sess')?.server, member.address, 'the client is on the member');
});

after(async () => {
  await cluster?.close();
  for (const s of services) s.close();
});

test('forward to a client on a member: a 32 MiB upload arrives intact, and the half-close comes through (the reply follows EOF)', async () => {
  const f = await forward(hash.port);
  const socket = await connect(f.port);
  let reply = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (reply += d));
  const local = createHash('sha256');
  await writeAll(socket, CHUNKS, local);
  socket.end(); // only our direction: the service answers after it sees EOF
  await once(socket, 'end');
  assert.equal(reply.trim(), local.digest('hex'));
  socket.destroy();
  // The session went through the member: both servers logged it.
  const onPrimary = await cluster.primary.proc!.waitForLine(
    (l) =>
      l.msg === 'session closed' && l.server === member.address && (l.target as { port?: number })?.port === hash.port,
    'the primary logs the session',
    60_000,
  );
  const onMember = await member.proc!.waitForLine(
    (l) => l.msg === 'session closed' && (l.target as { port?: number })?.port === hash.port,
    'the member logs the session',
    60_000,
  );
  assert.ok(
    Number(onPrimary.bytesToClient) >= CHUNKS * MB && Number(onMember.bytesToClient) >= CHUNKS * MB,
    'both servers relayed every byte',
  );
});

test("forward to a client on a member: a 32 MiB download arrives intact and ends with the service's EOF", async () => {
  const f = await forward(source.port);
  const socket = await connect(f.port);
  const got = createHash('sha256');
  let bytes = 0;
  socket.on('data', (d: Buffer) => {
    got.update(d);
    bytes += d.length;
  });
  await once(socket, 'end');
  socket.destroy();
  const record = source.sent.at(-1)!;
  assert.equal(bytes, CHUNKS * MB);
  assert.equal(got.digest('hex'), record.digest);
});

test('a download read slowly after the control has half-closed: every byte arrives, although the other direction closed long before', async () => {
  const f = await forward(source.port);
  const socket = await connect(f.port);
  socket.end(); // nothing to send: every hop sees this direction finished long before the data is
  const got = createHash('sha256');
  let bytes = 0;
  socket.on('data', (d: Buffer) => {
    got.update(d);
    bytes += d.length;
    socket.pause();
    setTimeout(() => socket.resume(), 2);
  });
  await Promise.race([once(socket, 'end'), once(socket, 'close')]);
  socket.destroy();
  const record = source.sent.at(-1)!;
  assert.equal(bytes, CHUNKS * MB, 'every byte arrived');
  assert.equal(got.digest('hex'), record.digest);
});

test('exec on a client on a member: output, errors and exit code come back; stdin EOF reaches the command', async () => {
  const status = await cluster.control(['exec', 'sess', '--', 'sh', '-c', 'echo out; echo err >&2; exit 7'], {
    timeoutMs: 60_000,
  });
  assert.equal(status.code, 7);
  assert.equal(status.stdout, 'out\n');
  assert.match(status.stderr, /^err$/m);

  // sha256sum prints only after its input ends: the control's EOF crossed every hop.
  const input = Buffer.concat(Array.from({ length: 8 }, (_, i) => chunk(i)));
  const summed = await cluster.control(['exec', 'sess', '--', 'sha256sum'], { input, timeoutMs: 60_000 });
  assert.equal(summed.code, 0, summed.stderr);
  assert.equal(summed.stdout.split(' ')[0], sha256(input));

  // A large output (about 7 MB) comes back whole.
  const seq = await cluster.control(['exec', 'sess', '--', 'seq', '1', '1000000'], { timeoutMs: 60_000 });
  assert.equal(seq.code, 0, seq.stderr);
  assert.equal(sha256(seq.stdout), sha256(seqOutput(1_000_000)));
});

test('exec into a pipe nobody reads yet: the control exits only after the last byte of the output is out', async () => {
  // A little more output than a pipe holds (64 KiB): the control has to queue the rest, and an exit
  // that does not wait for it drops the tail of the command's output.
  const n = 14_000;
  const want = seqOutput(n);
  const fifo = join(cluster.dir.path, 'exec-out.fifo');
  execFileSync('mkfifo', [fifo]);
  const readFd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const writeFd = openSync(fifo, constants.O_WRONLY);
  const from = cluster.primary.proc!.lines.length;
  const child = spawn(
    process.execPath,
    [
      BIN,
      'control',
      '--gateway',
      cluster.primary.address,
      '--key',
      cluster.key,
      'exec',
      'sess',
      '--',
      'seq',
      '1',
      String(n),
    ],
    { stdio: ['ignore', writeFd, 'pipe'] },
  );
  closeSync(writeFd);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = once(child, 'exit');
  // Read nothing until the command is over and the control has had time to exit (if it would).
  const sessionOver = cluster.primary.proc!.waitForLine(
    (l) => l.msg === 'session closed' && JSON.stringify(l.target).includes(String(n)),
    'the exec session over',
    30_000,
    from,
  );
  await Promise.race([exited, sessionOver.then(() => sleep(2000)), sleep(20_000)]);
  // Now read it all: EOF comes when the control has exited (it holds the only writer).
  const reader = new net.Socket({ fd: readFd, readable: true, writable: false });
  const chunks: Buffer[] = [];
  reader.on('data', (d: Buffer) => chunks.push(d));
  await once(reader, 'end');
  reader.destroy();
  await exited;
  assert.equal(child.exitCode, 0, stderr);
  const out = Buffer.concat(chunks).toString();
  assert.equal(out.length, want.length, 'every byte of the output came out');
  assert.equal(sha256(out), sha256(want));
});

test('a slow reader bounds memory on the primary and the member: backpressure reaches the service', async () => {
  const f = await forward(endless.port);
  const baseline = { primary: rssBytes(cluster.primary.proc!.child.pid!), member: rssBytes(member.proc!.child.pid!) };
  const socket = await connect(f.port);
  socket.pause(); // a reader that does not read
  const record = await waitFor(() => endless.sent[endless.sent.length - 1], 'the service to start sending', 60_000);
  // The service writes until every buffer on the path is full, then waits; its count stops growing.
  let previous = -1;
  await waitFor(
    async () => {
      const now = record.bytes;
      const stalled = now === previous && now > 0;
      previous = now;
      if (!stalled) await sleep(500);
      return stalled;
    },
    'the service to be held back',
    60_000,
    500,
  );
  const held = { primary: rssBytes(cluster.primary.proc!.child.pid!), member: rssBytes(member.proc!.child.pid!) };
  const stream = 4096 * MB;
  assert.ok(
    record.bytes < 256 * MB,
    `the service was held back after ${(record.bytes / MB).toFixed(1)} MiB of ${stream / MB} MiB`,
  );
  for (const who of ['primary', 'member'] as const) {
    const grown = held[who] - baseline[who];
    assert.ok(grown < 64 * MB, `${who} RSS grew by ${(grown / MB).toFixed(1)} MiB while the reader stalled`);
  }
  // The stream still flows once the reader reads: it was held, not broken.
  const before = record.bytes;
  socket.resume();
  await waitFor(() => record.bytes > before + 32 * MB, 'the service to send again', 60_000);
  socket.destroy();
  await waitFor(() => endless.sockets.at(-1)!.destroyed, 'the service side closed when the reader left', 60_000);
  await waitSessions((s) => s.primary === 0 && s.member === 0, 'sessions back to 0');
});

test('killing the control end (kill -9) tears down the whole path: the service sees the close, sessions go back to 0 on primary and member', async () => {
  const f = await forward(endless.port);
  // Counted before connecting: on a loaded machine the whole path may be up before this process
  // gets to run again after the connect.
  const count = endless.sockets.length;
  const socket = await connect(f.port);
  socket.on('error', () => undefined);
  socket.pause();
  await waitFor(() => endless.sockets.length > count, 'the session to reach the service', 60_000).catch(
    (err: Error) => {
      throw new Error(
        `${err.message}; forward stderr: ${f.proc.stderr}; client: ${JSON.stringify(client.lines.slice(-5))}; sockets ${endless.sockets.length} ${count}`,
      );
    },
  );
  const far = endless.sockets.at(-1)!;
  await waitSessions((s) => s.primary === 1 && s.member === 1, 'one session counted on the primary and on the member');

  await f.proc.stop('SIGKILL');
  await waitFor(() => far.destroyed, 'the service side of the session closed', 60_000);
  await waitSessions((s) => s.primary === 0 && s.member === 0, 'sessions back to 0');
  socket.destroy();
});

test('killing the client end (kill -9) tears down the whole path: the control side sees the stream end, sessions go back to 0 on primary and member', async () => {
  const f = await forward(endless.port);
  const socket = await connect(f.port);
  socket.on('error', () => undefined);
  // A clean EOF or a reset, whichever the timing gives: the stream does not just hang.
  // (events.once would reject on the reset: listen without it.)
  const over = new Promise<void>((resolve) => {
    socket.once('end', () => resolve());
    socket.once('close', () => resolve());
  });
  let bytes = 0;
  socket.on('data', (d: Buffer) => (bytes += d.length));
  await waitFor(() => bytes > MB, 'data flowing', 60_000);
  await waitSessions((s) => s.primary === 1 && s.member === 1, 'one session counted on the primary and on the member');

  await client.stop('SIGKILL');
  await Promise.race([
    over,
    sleep(60_000).then(() => Promise.reject(new Error('the control side of the session neither ended nor closed'))),
  ]);
  // Both servers end their halves although the control keeps its own side open.
  await waitSessions((s) => s.primary === 0 && s.member === 0, 'sessions back to 0');
  socket.destroy();

  // The client comes back (same id, same name) and sessions work again.
  client = await startClient();
  const again = await cluster.control(['exec', 'sess', '--', 'echo', 'back'], { timeoutMs: 60_000 });
  assert.equal(again.stdout, 'back\n', again.stderr);
});
