/**
 * A real HTTP CONNECT proxy for tests: Debian's tinyproxy, run in the foreground with a config file
 * in a temporary directory, on a free 127.0.0.1 port. `.ci/run` installs it; when it is missing the
 * test fails with an install hint.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { findTool, freePort } from './external.js';
import { OWN_GROUP, trackChild } from './harness.js';

export interface TinyproxyOptions {
  /** Ports CONNECT may reach; empty or absent: any port. */
  connectPorts?: number[];
  /** Require this user and password (tinyproxy's BasicAuth). */
  basicAuth?: { user: string; password: string };
}

export interface Tinyproxy {
  port: number;
  /** http://127.0.0.1:PORT */
  url: string;
  /** Everything tinyproxy logged so far (it logs each CONNECT request). */
  log(): string;
  /** The `CONNECT host:port` requests tinyproxy logged so far. */
  connects(): string[];
  stop(): Promise<void>;
}

function connectable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function startOnce(binary: string, dir: string, options: TinyproxyOptions): Promise<Tinyproxy | undefined> {
  const port = await freePort();
  const config = join(dir, `tinyproxy-${port}.conf`);
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'Listen 127.0.0.1',
      'Timeout 600',
      'MaxClients 200',
      'Allow 127.0.0.1',
      'LogLevel Info',
      `PidFile "${join(dir, `tinyproxy-${port}.pid`)}"`,
      ...(options.connectPorts ?? []).map((p) => `ConnectPort ${p}`),
      ...(options.basicAuth ? [`BasicAuth ${options.basicAuth.user} ${options.basicAuth.password}`] : []),
      '',
    ].join('\n'),
  );
  const child: ChildProcess = trackChild(
    spawn(binary, ['-d', '-c', config], { stdio: ['ignore', 'pipe', 'pipe'], ...OWN_GROUP }),
  );
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      // Most likely the port was taken between freePort and tinyproxy's bind: the caller retries.
      if (/Address already in use|Could not create listening sockets/i.test(output)) return undefined;
      throw new Error(`tinyproxy exited (${child.exitCode ?? child.signalCode}) at start: ${output.slice(-2000)}`);
    }
    if (/Accepting connections/.test(output) && (await connectable(port))) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`tinyproxy did not start listening on ${port}: ${output.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    log: () => output,
    connects: () => [...output.matchAll(/Request \(file descriptor \d+\): CONNECT (\S+) HTTP/g)].map((m) => m[1]!),
    stop,
  };
}

/** Starts tinyproxy on a free port, writing its config into `dir`. */
export async function startTinyproxy(dir: string, options: TinyproxyOptions = {}): Promise<Tinyproxy> {
  const binary = findTool('tinyproxy', 'install it with `apt-get install tinyproxy` (.ci/run does)');
  for (let attempt = 0; attempt < 3; attempt++) {
    const proxy = await startOnce(binary, dir, options);
    if (proxy) return proxy;
  }
  throw new Error('tinyproxy could not bind a free port in 3 attempts');
}
