/**
 * Issue 14, relay transparency: through a real `control forward`, a service sees what it would see
 * without the relay. A connection that closes at once never reaches it, connections arrive in the
 * order the forward accepted them, and the real iperf3 (a control connection, then data
 * connections) completes after a quick connect-and-close, every time.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { findTool, freePort, runTool } from './helpers/external.js';
import { addKey, Proc, startClient, startServer, tempDir, waitFor, type RunningServer } from './helpers/harness.js';
import { connectTcp, echoRoundTrip, sleep, startForwardProc, stopAll, tcpService, type Service } from './helpers/sb.js';

const dir = tempDir('sb-order-');
const procs: Proc[] = [];
const services: Service[] = [];
let server: RunningServer;
let key: string;
let iperfPort: number;
/** Connections the counting service accepted, in order, with the first line each sent. */
const accepted: { tag?: string }[] = [];
let counting: Service;
let forwardPort: number;
let iperfForwardPort: number;
let forwardProc: Proc;
let iperfForwardProc: Proc;
const iperf3 = findTool('iperf3', 'install iperf3 (apt-get install iperf3)');

before(async () => {
  server = await startServer(`${dir.path}/data`);
  procs.push(server.proc);
  key = await addKey(server.data, 'default');
  // Echoes, and notes the first line of each connection in the order the connections came.
  counting = await tcpService((s) => {
    const seen: { tag?: string } = {};
    accepted.push(seen);
    let text = '';
    s.on('data', (c: Buffer) => {
      text += c.toString();
      if (seen.tag === undefined && text.includes('\n')) seen.tag = text.slice(0, text.indexOf('\n'));
    });
    s.pipe(s);
  });
  services.push(counting);
  iperfPort = await freePort();
  procs.push(
    await startClient([
      '--gateway',
      server.address,
      '--key',
      key,
      '--name',
      'svc',
      '--state',
      `${dir.path}/client`,
      '--allow-forward',
      `${counting.port},${iperfPort}`,
    ]),
  );
  const fwd = await startForwardProc(server.address, key, 'svc', counting.port);
  procs.push(fwd.proc);
  forwardPort = fwd.port;
  forwardProc = fwd.proc;
  const iperfFwd = await startForwardProc(server.address, key, 'svc', iperfPort);
  procs.push(iperfFwd.proc);
  iperfForwardPort = iperfFwd.port;
  iperfForwardProc = iperfFwd.proc;
});

after(async () => {
  await stopAll(procs);
  await Promise.all(services.map((s) => s.close()));
  dir.remove();
});

/** Connects and closes at once, the moment the connection is up (a port probe). */
function connectAndClose(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve();
    });
    s.once('error', reject);
  });
}

/**
 * A probe that has connected and closed by the time the forward takes its connection: the forward
 * is stopped meanwhile (the kernel still completes the handshake), so that the probe's close is
 * certainly there first, whatever the load on the machine.
 */
async function probeWhileBusy(forward: Proc, port: number): Promise<void> {
  forward.child.kill('SIGSTOP');
  try {
    await connectAndClose(port);
  } finally {
    forward.child.kill('SIGCONT');
  }
}

test('a connection that closes at once does not reach the service; the one after it does', async () => {
  const before = accepted.length;
  for (let i = 0; i < 5; i++) await probeWhileBusy(forwardProc, forwardPort);
  const real = await connectTcp(forwardPort);
  assert.equal(await echoRoundTrip(real, 'real\n'), 'real\n');
  real.destroy();
  // Sessions are opened in accept order: had a probe reached the service, it would be there by now.
  assert.deepEqual(
    accepted.slice(before).map((a) => a.tag),
    ['real'],
  );
});

test('a connection that half-closes at once, sending nothing, is still carried (its peer still reads)', async () => {
  const before = accepted.length;
  const local = await connectTcp(forwardPort);
  local.end(); // nothing to send, but waiting for what comes back
  const got = new Promise<string>((resolve) => {
    let text = '';
    local.on('data', (c: Buffer) => (text += c.toString()));
    local.once('end', () => resolve(text));
  });
  await waitFor(() => accepted.length > before, 'the half-closed connection at the service', 30_000);
  // The counting service echoes: with nothing sent, it answers EOF with EOF, which arrives.
  assert.equal(await got, '');
  local.destroy();
});

test('connections reach the service in the order the forward accepted them, silent ones too', async () => {
  const before = accepted.length;
  const sockets: net.Socket[] = [];
  for (let i = 0; i < 8; i++) {
    const s = await connectTcp(forwardPort);
    sockets.push(s);
    // Even ones speak at once; odd ones say nothing for a while (as with a server-speaks-first protocol).
    if (i % 2 === 0) s.write(`${i}\n`);
  }
  await sleep(300);
  sockets.forEach((s, i) => i % 2 === 1 && s.write(`${i}\n`));
  await waitFor(
    () => accepted.length - before === 8 && accepted.slice(before).every((a) => a.tag !== undefined),
    'all eight connections at the service',
    30_000,
  );
  assert.deepEqual(
    accepted.slice(before).map((a) => a.tag),
    ['0', '1', '2', '3', '4', '5', '6', '7'],
  );
  sockets.forEach((s) => s.destroy());
});

test('a session whose far end closes (cleanly, or with a reset) closes its local connection', async () => {
  const kinds = ['end', 'reset', 'end-after-data'] as const;
  const closers = await Promise.all(
    kinds.map((how) =>
      tcpService((s) => {
        if (how === 'end') s.end();
        else if (how === 'reset') s.resetAndDestroy();
        else s.once('data', () => s.end('bye\n'));
      }),
    ),
  );
  services.push(...closers);
  procs.push(
    await startClient([
      '--gateway',
      server.address,
      '--key',
      key,
      '--name',
      'closer',
      '--state',
      `${dir.path}/closer`,
      '--allow-forward',
      closers.map((c) => c.port).join(','),
    ]),
  );
  for (const [i, how] of kinds.entries()) {
    const fwd = await startForwardProc(server.address, key, 'closer', closers[i]!.port);
    procs.push(fwd.proc);
    const local = await connectTcp(fwd.port);
    let closed = false;
    local.on('error', () => undefined);
    local.once('close', () => (closed = true));
    // The local side ends its own writing when it sees the service's end, as a client would.
    local.once('end', () => local.end());
    local.resume();
    local.write('hello\n');
    await waitFor(() => closed, `the local connection to close after the service's ${how}`, 30_000);
    await fwd.proc.stop();
  }
});

/** Whether some process listens on a TCP port (IPv4 or IPv6), from /proc/net/tcp*. */
function listening(port: number): boolean {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return ['/proc/net/tcp', '/proc/net/tcp6'].some((file) => {
    try {
      return readFileSync(file, 'utf8')
        .split('\n')
        .some((line) => {
          const cols = line.trim().split(/\s+/);
          return cols[1]?.endsWith(hex) && cols[3] === '0A';
        });
    } catch {
      return false;
    }
  });
}

/** Resolves once the child has exited (at once if it has). */
function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * `iperf3 -s -1` (one client, then exit): a probe that reached it would take its only test. One that
 * exits without listening (its port still held a moment by the last run's server, on a loaded
 * machine) is started again.
 */
async function iperfServer(): Promise<ChildProcess> {
  for (let attempt = 1; ; attempt++) {
    const child = spawn(iperf3, ['-s', '-1', '-p', String(iperfPort)], { stdio: 'ignore' });
    let gone = false;
    void exited(child).then(() => (gone = true));
    // Its output is buffered when piped: /proc says when it listens (a test connection would be its one client).
    await waitFor(() => gone || listening(iperfPort), 'iperf3 -s to listen');
    if (!gone) return child;
    if (attempt === 5) throw new Error(`iperf3 -s exited without listening on ${iperfPort}, ${attempt} times`);
    await sleep(500);
  }
}

test('iperf3 through control forward completes three times in a row, each after a quick connect-and-close', async () => {
  for (let run = 1; run <= 3; run++) {
    const service = await iperfServer();
    try {
      await probeWhileBusy(iperfForwardProc, iperfForwardPort);
      const result = await runTool(iperf3, ['-c', '127.0.0.1', '-p', String(iperfForwardPort), '-t', '2'], {
        timeoutMs: 60_000,
      });
      assert.equal(result.code, 0, `run ${run}: iperf3 -c failed: ${result.stdout.slice(-500)} ${result.stderr}`);
      assert.match(result.stdout, /iperf Done/);
    } finally {
      // Gone before the next run's server binds the same port.
      if (service.exitCode === null && service.signalCode === null) service.kill('SIGKILL');
      await exited(service);
    }
  }
});
