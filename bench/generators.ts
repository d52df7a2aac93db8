import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { track } from './processes.js';

/**
 * Runs connectGenerator.js in several processes (one process may hold at most 20,000 files, and
 * one event loop would be the bottleneck), starts them all at the same moment, and reports the
 * connections per second over the whole: count / (last finish - first start).
 */
const HERE = dirname(fileURLToPath(import.meta.url));

export interface GeneratorSpec {
  kind: 'switchboard' | 'ws';
  target: string;
  key?: string;
  /** Connections in total, spread evenly over the processes. */
  count: number;
  processes: number;
  /** Connections in progress at once, in total (each process takes its share). */
  concurrency: number;
  prefix: string;
}

export interface GeneratorRun {
  count: number;
  ms: number;
  perSecond: number;
  retries: number;
  /** CPU time the generator processes used while connecting (user + system, all processes). */
  cpuMs: number;
  /** The generator processes, still holding their connections: stop them with `stop()`. */
  stop(): Promise<void>;
}

function waitMessage(child: ChildProcess, key: string, timeoutMs: number): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`a generator did not report ${key} within ${timeoutMs / 1000} s`)),
      timeoutMs,
    );
    const onMessage = (m: Record<string, number>) => {
      if (!(key in m)) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(m);
    };
    child.on('message', onMessage);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`a generator exited (${code}) before ${key}`));
    });
  });
}

export async function runGenerators(spec: GeneratorSpec, timeoutMs = 600_000): Promise<GeneratorRun> {
  const children: ChildProcess[] = [];
  for (let p = 0; p < spec.processes; p++) {
    const count = Math.floor(spec.count / spec.processes) + (p < spec.count % spec.processes ? 1 : 0);
    const concurrency = Math.max(1, Math.round(spec.concurrency / spec.processes));
    const arg = JSON.stringify({
      kind: spec.kind,
      target: spec.target,
      key: spec.key,
      count,
      concurrency,
      prefix: `${spec.prefix}${p}`,
    });
    const child = fork(join(HERE, 'connectGenerator.js'), [arg], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    track(child);
    children.push(child);
  }
  const stop = async () => {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            c.once('exit', () => resolve());
            c.kill('SIGKILL');
          }),
      ),
    );
  };
  try {
    await Promise.all(children.map((c) => waitMessage(c, 'ready', 120_000)));
    const done = Promise.all(children.map((c) => waitMessage(c, 'done', timeoutMs)));
    for (const c of children) c.send({ go: true });
    const results = await done;
    const ms = Math.max(...results.map((r) => r.endedAt!)) - Math.min(...results.map((r) => r.startedAt!));
    return {
      count: spec.count,
      ms,
      perSecond: spec.count / (ms / 1000),
      retries: results.reduce((n, r) => n + r.retries!, 0),
      cpuMs: results.reduce((n, r) => n + r.cpuMs!, 0),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
