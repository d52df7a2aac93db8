/**
 * Helpers for tests that drive programs other than switchboard (tinyproxy, sshd, ssh, scp) and for
 * sessions through `control forward`: finding a tool (a missing one fails the test with an install
 * hint, never skips it), running it, free ports, a TCP echo service, file hashes. Additive to harness.ts.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { accessSync, constants, createReadStream, createWriteStream } from 'node:fs';
import net from 'node:net';
import { delimiter, join } from 'node:path';
import { once } from 'node:events';
import { Proc, trackChild } from './harness.js';
import { openEchoStream } from './tlsStream.js';
import { freePort } from './ports.js';

export { freePort };

const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** The absolute path of an executable, or an Error that says how to install it. */
export function findTool(name: string, installHint: string): string {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...SYSTEM_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      /* not here */
    }
  }
  throw new Error(`${name} is not installed (searched PATH and ${SYSTEM_DIRS.join(', ')}); ${installHint}`);
}

export interface ToolResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion; rejects only if it cannot start or overruns its deadline. */
export function runTool(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {},
): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = trackChild(spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] }));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `${cmd} ${args.join(' ')} did not finish in ${opts.timeoutMs ?? 60_000} ms; stderr: ${stderr.slice(-2000)}`,
        ),
      );
    }, opts.timeoutMs ?? 60_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    // A command that exits before reading its input (ssh-keygen, sshd -t) makes the write fail with EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** A TCP service that sends back every byte it gets and half-closes when its peer does. */
export async function startEchoServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Connects to a port, sends the payload, half-closes, and resolves with everything that came back. */
export function roundTrip(port: number, payload: Buffer, timeoutMs = 30_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(
          `no complete answer on port ${port} within ${timeoutMs} ms (got ${Buffer.concat(chunks).length} of ${payload.length} bytes)`,
        ),
      );
    }, timeoutMs);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.once('end', () => {
      clearTimeout(timer);
      socket.end();
      resolve(Buffer.concat(chunks));
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.end(payload);
  });
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Writes `bytes` random bytes to a file, a MiB at a time. */
export async function writeRandomFile(path: string, bytes: number): Promise<void> {
  const out = createWriteStream(path);
  for (let left = bytes; left > 0;) {
    const n = Math.min(left, 1 << 20);
    if (!out.write(randomBytes(n))) await once(out, 'drain');
    left -= n;
  }
  out.end();
  await once(out, 'finish');
}

/**
 * Starts `switchboard control ... forward CLIENT 0:REMOTE_PORT` and resolves once it listens, with
 * the local port it picked. `controlArgs` are the control's own flags (gateway, key, TLS, proxy).
 */
export async function startForwardProc(
  controlArgs: string[],
  client: string,
  remotePort: number,
): Promise<{ proc: Proc; port: number }> {
  const proc = new Proc(['control', ...controlArgs, 'forward', client, `0:${remotePort}`]);
  try {
    const line = await proc.waitForMsg('forwarding');
    const listen = String(line.listen);
    return { proc, port: Number(listen.slice(listen.lastIndexOf(':') + 1)) };
  } catch (err) {
    await proc.stop('SIGKILL');
    throw err;
  }
}

/** Asserts the shape INTERFACE.md promises for a failed command: non-zero exit, one line on stderr. */
export function oneErrorLine(result: { code: number | null; stderr: string }): string {
  if (result.code === 0) throw new Error(`expected a failure, the command succeeded; stderr: ${result.stderr}`);
  const lines = result.stderr.trim().split('\n');
  if (lines.length !== 1 || !lines[0])
    throw new Error(`expected exactly one line on stderr, got ${lines.length}: ${result.stderr}`);
  return lines[0];
}

/**
 * Starts `switchboard client ARGS`, registering the process in `procs` before waiting, so that a
 * client that never connects is still stopped by the test's `after`.
 */
export async function startTrackedClient(procs: Proc[], args: string[], waitConnected = true): Promise<Proc> {
  const proc = new Proc(['client', ...args]);
  procs.push(proc);
  if (waitConnected) await proc.waitForLine((l) => l.status === 'connected', `client ${args.join(' ')} connected`);
  return proc;
}

/** Starts `switchboard server` on 127.0.0.1:0, registered in `procs` before it is waited for. */
export async function startTrackedServer(
  procs: Proc[],
  data: string,
  args: string[] = [],
): Promise<{ proc: Proc; data: string; address: string }> {
  const proc = new Proc(['server', '--data', data, '--listen', '127.0.0.1:0', ...args]);
  procs.push(proc);
  const line = await proc.waitForMsg('listening');
  return { proc, data, address: String(line.address) };
}

/**
 * Sends the payload and resolves once as many bytes came back, without a half-close: for paths
 * through an HTTP proxy, which may turn a half-close into a full close (tinyproxy does).
 */
export function exchange(port: number, payload: Buffer, timeoutMs = 30_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const socket = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`only ${got} of ${payload.length} bytes came back on port ${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      got += d.length;
      if (got >= payload.length) {
        clearTimeout(timer);
        socket.end();
        resolve(Buffer.concat(chunks));
      }
    });
    socket.once('close', () => {
      clearTimeout(timer);
      if (got < payload.length) reject(new Error(`the connection closed after ${got} of ${payload.length} bytes`));
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.write(payload);
  });
}

/**
 * A client pinned to a TLS server (`--tls-fingerprint PIN`), a pinned `control forward` to its
 * echo port, and a stream through that session with bytes already gone both ways: what a
 * certificate change must leave running (a reload, a renewal).
 */
export async function pinnedEchoSession(
  procs: Proc[],
  opts: { address: string; pin: string; key: string; state: string; echoPort: number },
): Promise<{ client: Proc; forward: Proc; stream: Awaited<ReturnType<typeof openEchoStream>> }> {
  const client = await startTrackedClient(procs, [
    '--gateway',
    opts.address,
    '--tls-fingerprint',
    opts.pin,
    '--key',
    opts.key,
    '--name',
    'pinned',
    '--state',
    opts.state,
    '--allow-forward',
    String(opts.echoPort),
  ]);
  const forward = await startForwardProc(
    ['--gateway', opts.address, '--key', opts.key, '--tls-fingerprint', opts.pin],
    'pinned',
    opts.echoPort,
  );
  procs.push(forward.proc);
  const stream = await openEchoStream(forward.port);
  await stream.roundTrip();
  return { client, forward: forward.proc, stream };
}
