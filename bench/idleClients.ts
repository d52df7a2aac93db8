import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli, tempDir } from '../test/helpers/harness.js';
import { sleep } from '../test/helpers/ports.js';
import { cpuMs } from './cpuTime.js';
import { runGenerators } from './generators.js';
import { shippedNodeEnv, shippedNodeFlags, startScript, SwitchboardProcess } from './processes.js';
import { round } from './stats.js';

/**
 * Idle clients (issue 7, benchmark 3): what one connected, idle client costs a server, against a
 * bare `ws` server holding as many idle WebSocket connections from the same generator
 * (connectGenerator.ts), both started with the node flags Switchboard ships with.
 *
 * For each server: a full GC and its memory (memProbe.ts) when empty, then a warm-up tenth of the
 * clients (the first clients also pay one-time costs: compiled code, lazily loaded modules, caches,
 * some 20 MB for Switchboard) and the memory again, then the rest of the `clients` from several
 * generator processes, a few seconds to settle, the RSS as the OS sees it, a full GC and the memory
 * again. The growth over the rest divided by their number is the cost per connection (the growth
 * from the empty server is reported too). Then the
 * server's CPU time over `idleSeconds` with everything idle (Switchboard pings every client once
 * per heartbeat, 30 s by default) as a percentage of one core.
 */
const HERE = dirname(fileURLToPath(import.meta.url));
const KEY = 'bench-idle-key-0123456789abcdef';
/** Fixed addresses of our own (127.0.92.x), not used by the other benchmarks or the test suite. */
const SWITCHBOARD_ADDRESS = '127.0.92.1:29611';
const BARE_ADDRESS = '127.0.92.2:29612';

export interface IdleOptions {
  clients: number;
  processes: number;
  idleSeconds: number;
  log: (line: string) => void;
}

interface Memory {
  rss: number;
  heapUsed: number;
  external: number;
}

export interface IdleFigures {
  path: string;
  connections: number;
  connectMs: number;
  /** Bytes per connection after the warm-up: RSS growth as the OS saw it (garbage included), then after a full GC. */
  rssPerConnection: number;
  rssPerConnectionAfterGc: number;
  heapPerConnectionAfterGc: number;
  /** RSS growth per connection from the empty server (warm-up costs included), after a full GC. */
  rssPerConnectionFromEmpty: number;
  /** Whole-process figures in MB. */
  rssBeforeMB: number;
  rssAfterMB: number;
  rssAfterGcMB: number;
  heapAfterGcMB: number;
  /** CPU over the idle window, % of one core. */
  idleCpuPercent: number;
}

export interface IdleResult {
  clients: number;
  idleSeconds: number;
  nodeFlags: string[];
  baseline: IdleFigures;
  subject: IdleFigures;
  /** subject / baseline, bytes per connection after a full GC (RSS) */
  rssRatio: number;
  heapRatio: number;
}

function vmRss(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? NaN) * 1024;
}

/** Asks the server's memProbe for a full GC and its memory figures. */
async function probe(dir: string, pid: number): Promise<Memory> {
  const file = join(dir, `${pid}.json`);
  const sent = Date.now();
  process.kill(pid, 'SIGUSR2');
  for (let i = 0; i < 200; i++) {
    await sleep(50);
    if (!existsSync(file)) continue;
    const m = JSON.parse(readFileSync(file, 'utf8')) as Memory & { at: number };
    if (m.at >= sent) return m;
  }
  throw new Error(`process ${pid} did not answer the memory probe`);
}

async function measure(
  path: string,
  pid: number,
  kind: 'switchboard' | 'ws',
  target: string,
  probeDir: string,
  opts: IdleOptions,
): Promise<IdleFigures> {
  await sleep(2000);
  const empty = await probe(probeDir, pid);
  const warmup = Math.round(opts.clients / 10);
  const first = await runGenerators({
    kind,
    target,
    key: KEY,
    count: warmup,
    processes: 1,
    concurrency: 200,
    prefix: 'warm',
  });
  let gen: Awaited<ReturnType<typeof runGenerators>> | undefined;
  try {
    await sleep(3000);
    const before = await probe(probeDir, pid);
    opts.log(
      `  ${path}: ${(empty.rss / 2 ** 20).toFixed(1)} MB RSS empty, ${(before.rss / 2 ** 20).toFixed(1)} MB with ${warmup} clients; connecting ${opts.clients - warmup} more`,
    );
    gen = await runGenerators({
      kind,
      target,
      key: KEY,
      count: opts.clients - warmup,
      processes: opts.processes,
      concurrency: 200,
      prefix: 'idle',
    });
    await sleep(5000);
    const rssAfter = vmRss(pid);
    const after = await probe(probeDir, pid);
    const cpu0 = cpuMs(pid)!;
    await sleep(opts.idleSeconds * 1000);
    const cpu1 = cpuMs(pid)!;
    const n = opts.clients - warmup;
    const figures: IdleFigures = {
      path,
      connections: opts.clients,
      connectMs: gen.ms,
      rssPerConnection: Math.round((rssAfter - before.rss) / n),
      rssPerConnectionAfterGc: Math.round((after.rss - before.rss) / n),
      heapPerConnectionAfterGc: Math.round((after.heapUsed - before.heapUsed) / n),
      rssPerConnectionFromEmpty: Math.round((after.rss - empty.rss) / opts.clients),
      rssBeforeMB: round(empty.rss / 2 ** 20, 1),
      rssAfterMB: round(rssAfter / 2 ** 20, 1),
      rssAfterGcMB: round(after.rss / 2 ** 20, 1),
      heapAfterGcMB: round(after.heapUsed / 2 ** 20, 1),
      idleCpuPercent: round(((cpu1 - cpu0) / (opts.idleSeconds * 1000)) * 100, 2),
    };
    opts.log(
      `  ${path}: ${opts.clients} connected (the last ${n} in ${gen.ms} ms); ${figures.rssPerConnectionAfterGc} B RSS and ${figures.heapPerConnectionAfterGc} B heap per connection after GC (${figures.rssPerConnection} B RSS before the GC); idle CPU ${figures.idleCpuPercent} %`,
    );
    return figures;
  } finally {
    await gen?.stop();
    await first.stop();
  }
}

export async function runIdleClients(opts: IdleOptions): Promise<IdleResult> {
  const dir = tempDir('sb-bench-idle-');
  // The probe's directory reaches the servers through the environment they inherit.
  process.env.MEMPROBE_DIR = dir.path;
  const nodeFlags = [...shippedNodeFlags(), '--expose-gc', '--import', join(HERE, 'memProbe.js')];
  try {
    const bare = await startScript('bareWs.js', ['--listen', BARE_ADDRESS], nodeFlags, shippedNodeEnv());
    let baseline: IdleFigures;
    try {
      baseline = await measure('bare ws', bare.child.pid!, 'ws', BARE_ADDRESS, dir.path, opts);
    } finally {
      bare.child.kill('SIGKILL');
    }

    const data = join(dir.path, 'data');
    for (const args of [
      ['key', 'add', 'bench', '--value', KEY],
      ['set', 'max-connections-per-address', '1000000'],
      ['set', 'admission-rate', '1000000'],
    ]) {
      const r = await runCli(['config', '--data', data, '--create', ...args]);
      if (r.code !== 0) throw new Error(`config ${args.join(' ')}: ${r.stderr}`);
    }
    const server = new SwitchboardProcess(['server', '--data', data, '--listen', SWITCHBOARD_ADDRESS], nodeFlags);
    let subject: IdleFigures;
    try {
      await server.waitForLine((l) => l.msg === 'listening', 'the server listening');
      subject = await measure('switchboard', server.child.pid!, 'switchboard', SWITCHBOARD_ADDRESS, dir.path, opts);
    } finally {
      server.child.kill('SIGKILL');
    }
    return {
      clients: opts.clients,
      idleSeconds: opts.idleSeconds,
      nodeFlags: shippedNodeFlags(),
      baseline,
      subject,
      rssRatio: round(subject.rssPerConnectionAfterGc / baseline.rssPerConnectionAfterGc, 2),
      heapRatio: round(subject.heapPerConnectionAfterGc / baseline.heapPerConnectionAfterGc, 2),
    };
  } finally {
    delete process.env.MEMPROBE_DIR;
    dir.remove();
  }
}

/** `node dist/bench/idleClients.js [clients] [processes] [idleSeconds]`: this benchmark alone. */
if (import.meta.url === `file://${process.argv[1]}`) {
  const [clients = 15000, processes = 4, idleSeconds = 30] = process.argv.slice(2).map(Number);
  runIdleClients({ clients, processes, idleSeconds, log: (l) => process.stderr.write(l + '\n') }).then(
    (r) => process.stdout.write(JSON.stringify(r, null, 2) + '\n'),
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack}\n`);
      process.exitCode = 1;
    },
  );
}
