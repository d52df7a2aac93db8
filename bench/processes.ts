import { fork, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BIN } from '../test/helpers/harness.js';
import type { DriverRequest, TransferResult } from './driver.js';

/** dist/bench, where the helper scripts of the benchmarks are. */
const HERE = dirname(fileURLToPath(import.meta.url));

const running = new Set<ChildProcess>();

/** Every process a benchmark started is stopped at the end, even when it fails half-way. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((child) => stop(child)));
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      running.delete(child);
      return resolve();
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      running.delete(child);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export function track(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
}

/**
 * Starts one of the bench's own scripts (service.js, relay.js, bareWs.js) and waits for its
 * listening line; a baseline that should run as Switchboard does gets its flags and environment.
 */
export function startScript(
  script: string,
  args: string[] = [],
  nodeFlags: string[] = [],
  env: Record<string, string> = {},
): Promise<{ address: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [...nodeFlags, join(HERE, script), ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.includes('"listening"'));
      if (line) resolve({ address: (JSON.parse(line) as { address: string }).address, child });
    });
    child.once('exit', (code) => reject(new Error(`${script} exited (${code}) before listening: ${err.slice(-1000)}`)));
  });
}

/** The driver process (see driver.ts), reached over IPC. */
export class Driver {
  private nextId = 1;
  private readonly waiting = new Map<
    number,
    { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }
  >();

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (msg: { id?: number; error?: string }) => {
      if (msg.id === undefined) return;
      const w = this.waiting.get(msg.id);
      this.waiting.delete(msg.id);
      if (msg.error) w?.reject(new Error(msg.error));
      else w?.resolve(msg as Record<string, unknown>);
    });
    child.once('exit', (code) => {
      for (const w of this.waiting.values()) w.reject(new Error(`the driver exited (${code})`));
      this.waiting.clear();
    });
  }

  static start(): Promise<Driver> {
    const child = fork(join(HERE, 'driver.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    track(child);
    return new Promise((resolve, reject) => {
      child.once('message', () => resolve(new Driver(child)));
      child.once('exit', (code) => reject(new Error(`the driver exited (${code}) at start`)));
    });
  }

  /** A stalled path fails the benchmark instead of hanging it: no request may take this long. */
  private static readonly TIMEOUT_MS = 15 * 60_000;

  private call(
    req: DriverRequest extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never,
  ): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`${req.op} via ${req.address} did not finish within ${Driver.TIMEOUT_MS / 60_000} minutes`));
      }, Driver.TIMEOUT_MS);
      const settle =
        <T>(fn: (v: T) => void) =>
        (v: T) => {
          clearTimeout(timer);
          fn(v);
        };
      this.waiting.set(id, { resolve: settle(resolve), reject: settle(reject) });
      this.child.send({ ...req, id });
    });
  }

  transfer(op: 'download' | 'upload', address: string, bytes: number): Promise<TransferResult> {
    return this.call({ op, address, bytes }) as Promise<unknown> as Promise<TransferResult>;
  }

  async firstByte(address: string, count: number): Promise<number[]> {
    return ((await this.call({ op: 'firstByte', address, count })) as { samples: number[] }).samples;
  }
}

/**
 * The node flags `bin/switchboard.js` runs with, read from its shebang
 * (`#!/usr/bin/env -S node FLAGS`): what `npx switchboard` and an installed bin run, so the
 * benchmark measures Switchboard as shipped. Read here, not copied, so there is one source of truth.
 */
export function shippedNodeFlags(bin = BIN): string[] {
  const { words, node } = shebang(bin);
  return words.slice(node + 1);
}

/** The environment the shebang sets for node (`env -S NAME=VALUE ... node`), e.g. glibc's malloc tuning. */
export function shippedNodeEnv(bin = BIN): Record<string, string> {
  const { words, node } = shebang(bin);
  const assignments = words.slice(0, node).filter((w) => /^[A-Za-z_][A-Za-z0-9_]*=/.test(w));
  return Object.fromEntries(assignments.map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]));
}

function shebang(bin: string): { words: string[]; node: number } {
  const first = readFileSync(bin, 'utf8').split('\n', 1)[0]!;
  const words = first.replace(/^#!/, '').trim().split(/\s+/);
  const node = words.findIndex((w) => w === 'node' || w.endsWith('/node'));
  if (node === -1) throw new Error(`${bin}: no node in the shebang line ${JSON.stringify(first)}`);
  return { words, node };
}

/**
 * A long-running `switchboard ...` process, like the test harness's Proc, but started with the
 * shipped node flags by default (or others: the benchmarks compare V8 settings), and its stdout
 * JSON lines collected.
 */
export class SwitchboardProcess {
  readonly lines: Record<string, unknown>[] = [];
  private stderr = '';
  private waiters: (() => void)[] = [];
  readonly child: ChildProcess;

  constructor(args: string[], nodeFlags: string[] = shippedNodeFlags(), env: NodeJS.ProcessEnv = {}) {
    this.child = spawn(process.execPath, [...nodeFlags, BIN, ...args], {
      env: { ...process.env, ...shippedNodeEnv(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    track(this.child);
    let partial = '';
    this.child.stdout!.on('data', (d: Buffer) => {
      const parts = (partial + d.toString()).split('\n');
      partial = parts.pop()!;
      for (const line of parts) {
        try {
          this.lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          /* not a log line */
        }
      }
      // Keep memory flat over thousands of sessions: only the lines a benchmark waits for matter.
      if (this.lines.length > 1000) this.lines.splice(0, this.lines.length - 100);
      this.notify();
    });
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
      this.notify();
    });
    this.child.once('exit', () => this.notify());
  }

  /** The last few KB the process wrote to stderr (why it died, when it did). */
  get stderrTail(): string {
    return this.stderr;
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Stops this process now (SIGKILL is a crash, as in the failover benchmark) and waits for its exit. */
  stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.kill(signal);
    });
  }

  waitForLine(
    match: (line: Record<string, unknown>) => boolean,
    what: string,
    timeoutMs = 30_000,
  ): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out waiting for ${what}; stderr: ${this.stderr}`)),
        timeoutMs,
      );
      const check = () => {
        const found = this.lines.find(match);
        if (found) {
          clearTimeout(timer);
          resolve(found);
        } else if (this.child.exitCode !== null || this.child.signalCode !== null) {
          clearTimeout(timer);
          reject(
            new Error(
              `switchboard exited (${this.child.exitCode ?? this.child.signalCode}) before ${what}; stderr: ${this.stderr}`,
            ),
          );
        } else this.waiters.push(check);
      };
      check();
    });
  }
}
