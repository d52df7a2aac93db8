import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RELAY_NODE_ENV, RELAY_NODE_FLAGS } from '../../src/cli/nodeRuntime.js';

/** The repository root, from dist/test/helpers. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const BIN = join(ROOT, 'bin', 'switchboard.js');

/**
 * Node's arguments and environment for a Switchboard process: the settings the bin would otherwise
 * start itself again to get (src/cli/nodeRuntime.ts), so that the process a test watches (its pid,
 * memory, sockets) is Switchboard itself.
 */
export function binSpawn(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  bin = BIN,
): { argv: string[]; env: NodeJS.ProcessEnv } {
  return { argv: [...RELAY_NODE_FLAGS, bin, ...args], env: { ...RELAY_NODE_ENV, ...process.env, ...env } };
}

/**
 * Every process the tests started that may still run. A test file that times out is ended by
 * `node --test` (SIGTERM) and its `after()` hooks never run; an interrupted run gets SIGINT. So the
 * file's own process ends them: on exit and on those signals, synchronously (nothing asynchronous
 * runs after 'exit'). Each is started detached, leading a process group of its own, so that
 * whatever it started goes too. A SIGKILL of the test process cannot be caught; nothing is left
 * to do then.
 */
const running = new Set<ChildProcess>();

/** Whether a process started here has not yet been seen to exit. */
function stillRunning(child: ChildProcess): boolean {
  return child.pid !== undefined && child.exitCode === null && child.signalCode === null;
}

function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    try {
      process.kill(child.pid!, 'SIGKILL');
    } catch {
      /* gone already */
    }
  }
}

/** Kills (SIGKILL) every tracked process that still runs, with its process group. */
export function killTrackedChildren(): void {
  for (const child of running) if (stillRunning(child)) killGroup(child);
  running.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  killTrackedChildren();
  process.off(signal, onSignal);
  // Only listener: the signal's default action (the process ends by it, as it would have).
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

let handlersInstalled = false;

/**
 * Ends `child` (and its process group, when it leads one: spawn it with `detached: true` on
 * POSIX) if the test process exits or is interrupted before the child has. Returns the child.
 */
export function trackChild<T extends ChildProcess>(child: T): T {
  if (!handlersInstalled) {
    handlersInstalled = true;
    process.on('exit', killTrackedChildren);
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, onSignal);
  }
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/** spawn's options for a tracked child: its own process group (POSIX), so trackChild ends all of it. */
export const OWN_GROUP = { detached: process.platform !== 'win32' } as const;

export function tempDir(prefix = 'sb-test-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export async function waitFor<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = 15_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs one `switchboard ...` command to completion (`bin`: another build's entry, e.g. a previous release). */
export function runCli(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string | Buffer; timeoutMs?: number; bin?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const run = binSpawn(args, opts.env, opts.bin);
    const child = trackChild(
      spawn(process.execPath, run.argv, { env: run.env, stdio: ['pipe', 'pipe', 'pipe'], ...OWN_GROUP }),
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`switchboard ${args.join(' ')} did not finish; stderr: ${stderr}`));
    }, opts.timeoutMs ?? 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    // A command may exit before reading its input (a refused flag): that is its answer, not an error here.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** A long-running `switchboard ...` process whose JSON log lines are collected. */
export class Proc {
  readonly lines: Record<string, unknown>[] = [];
  stdout = '';
  stderr = '';
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  private waiters: (() => void)[] = [];

  /** `exe`: run that program with only its own environment instead of `node bin/switchboard.js`. */
  constructor(
    /** The switchboard command's arguments, without node's flags or the entry script. */
    readonly args: string[],
    env: NodeJS.ProcessEnv = {},
    exe?: { file: string; cwd: string; env: NodeJS.ProcessEnv },
  ) {
    const run = binSpawn(args, env);
    this.child = trackChild(
      exe
        ? spawn(exe.file, args, { cwd: exe.cwd, env: exe.env, stdio: ['pipe', 'pipe', 'pipe'], ...OWN_GROUP })
        : spawn(process.execPath, run.argv, { env: run.env, stdio: ['pipe', 'pipe', 'pipe'], ...OWN_GROUP }),
    );
    let partial = '';
    this.child.stdout!.on('data', (d: Buffer) => {
      const text = d.toString();
      this.stdout += text;
      partial += text;
      const parts = partial.split('\n');
      partial = parts.pop()!;
      for (const line of parts) {
        try {
          this.lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          /* not a log line */
        }
      }
      this.notify();
    });
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
      this.notify();
    });
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code) => {
        this.notify();
        resolve(code);
      }),
    );
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves with the first log line that matches (already seen or still to come). */
  waitForLine(
    match: (line: Record<string, unknown>) => boolean,
    what: string,
    timeoutMs = 15_000,
    from = 0,
  ): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out waiting for ${what}; stderr: ${this.stderr.slice(-2000)}`)),
        timeoutMs,
      );
      const check = () => {
        const found = this.lines.slice(from).find(match);
        if (found) {
          clearTimeout(timer);
          resolve(found);
        } else if (this.child.exitCode !== null || this.child.signalCode !== null) {
          clearTimeout(timer);
          reject(
            new Error(
              `process exited (${this.child.exitCode ?? this.child.signalCode}) before ${what}; stderr: ${this.stderr.slice(-2000)}`,
            ),
          );
        } else this.waiters.push(check);
      };
      check();
    });
  }

  waitForMsg(msg: string, timeoutMs?: number, from?: number): Promise<Record<string, unknown>> {
    return this.waitForLine((l) => l.msg === msg, `log "${msg}"`, timeoutMs, from);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }
}

export interface RunningServer {
  proc: Proc;
  address: string;
  data: string;
}

/** Starts `switchboard server` on 127.0.0.1:0 (or the given listen address) and waits until it listens. */
export async function startServer(
  data: string,
  extraArgs: string[] = [],
  env: NodeJS.ProcessEnv = {},
  listen = '127.0.0.1:0',
): Promise<RunningServer> {
  const proc = new Proc(['server', '--data', data, '--listen', listen, ...extraArgs], env);
  const line = await proc.waitForMsg('listening');
  return { proc, address: line.address as string, data };
}

/** Adds a key offline (making the store on a fresh directory) and returns its value. */
export async function addKey(data: string, name: string, value?: string): Promise<string> {
  const result = await runCli([
    'config',
    '--data',
    data,
    '--create',
    'key',
    'add',
    name,
    ...(value ? ['--value', value] : []),
  ]);
  if (result.code !== 0) throw new Error(`key add failed: ${result.stderr}`);
  return result.stdout.trim();
}

/** Starts `switchboard client` and waits until it is connected. */
export async function startClient(args: string[], waitConnected = true): Promise<Proc> {
  const proc = new Proc(['client', ...args]);
  if (waitConnected) await proc.waitForLine((l) => l.status === 'connected', 'client connected');
  return proc;
}
