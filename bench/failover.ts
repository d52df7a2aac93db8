import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from '../test/helpers/harness.js';
import { BenchCluster } from './benchCluster.js';
import { stopAll } from './processes.js';

/**
 * Failover at scale (issues 4 and 7): N real clients (several `bench clients` processes) on a
 * primary, a secondary and a member; kill -9 of the primary; how long until the secondary lets a
 * control browse every one of them, and how many are missing at 10 s (the target).
 *
 * A section of `npm run bench` (`--only failover`), and still a script of its own:
 *   node dist/bench/failover.js [--clients 10000] [--per-process 2500] [--out FILE]
 *
 * Its servers are on 127.0.70.11-13 (the cluster throughput paths are on 127.0.90.x), started like
 * every bench process with bin/switchboard.js's node flags.
 */

const PORT = 29443;
const SERVERS = [11, 12, 13].map((h) => `127.0.70.${h}:${PORT}`);
const TARGET_MS = 10_000;
const CONNECT_TIMEOUT_MS = 300_000;

export interface FailoverResult {
  clients: number;
  /** Time for every client to connect at the start (2500 at a time, one bench process after another). */
  connectMs: number;
  browsableBeforeKill: number;
  /** kill -9 of the primary → the secondary's browse lists every client; null if not within a minute. */
  allBrowsableAfterMs: number | null;
  browsableAt10s: number;
  missingAt10s: number;
  /** Browsable on the secondary when the benchmark stopped looking (all, or after 60 s). */
  browsableAtEnd: number;
  /** [ms after the kill, browsable] each time the count changed: the shape of the recovery. */
  timeline: [number, number][];
  /** Browse attempts on the secondary that failed (refused while not acting, timed out...), and the last error. */
  browseErrors: number;
  lastBrowseError: string | null;
  targetMs: number;
}

export async function runFailoverBench(
  total: number,
  perProcess: number,
  log: (line: string) => void = (l) => process.stderr.write(l + '\n'),
): Promise<FailoverResult> {
  const cluster = new BenchCluster({
    servers: SERVERS,
    secret: 'bench-failover-secret-0123456789',
    key: 'bench-failover-key-0123456789',
    settings: { heartbeat: '5', 'admission-rate': '5000' },
    tempPrefix: 'sb-bench-failover-',
  });
  try {
    await cluster.start();
    const connectStarted = Date.now();
    await cluster.addClients(total, perProcess, 'f', CONNECT_TIMEOUT_MS);
    const connectMs = Date.now() - connectStarted;
    // A member reports its arrivals in batches: the kill waits until the primary lists every client,
    // so that what is timed is the failover alone (up to 30 s, then the kill goes ahead anyway).
    const { count: before } = await cluster.waitBrowsable(total, 30_000);
    log(`  failover: ${before} clients browsable on the primary after ${connectMs} ms; killing the primary`);

    await cluster.killPrimary();
    const r = await cluster.watchRecovery(cluster.secondary, total, 60_000, TARGET_MS);
    log(
      `  failover: all ${total} browsable on the secondary ${r.allBackMs === null ? `not within 60 s (${r.atEnd} then)` : `after ${r.allBackMs} ms`}; ${r.atTarget} at 10 s; timeline ${JSON.stringify(r.timeline)}; ${r.browseErrors} failed browses${r.lastBrowseError ? ` (last: ${r.lastBrowseError})` : ''}`,
    );
    return {
      clients: total,
      connectMs,
      browsableBeforeKill: before,
      allBrowsableAfterMs: r.allBackMs,
      browsableAt10s: r.atTarget,
      missingAt10s: total - r.atTarget,
      browsableAtEnd: r.atEnd,
      timeline: r.timeline,
      browseErrors: r.browseErrors,
      lastBrowseError: r.lastBrowseError,
      targetMs: TARGET_MS,
    };
  } finally {
    await cluster.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // Parsed here, not at load: `npm run bench` imports this module with its own flags.
  const { values: flags } = parseArgs({
    options: {
      clients: { type: 'string', default: '10000' },
      'per-process': { type: 'string', default: '2500' },
      out: { type: 'string' },
    },
  });
  try {
    const result = await runFailoverBench(Number(flags.clients), Number(flags['per-process']));
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    const out = flags.out ?? join(ROOT, 'bench', 'results', 'failover.json');
    mkdirSync(join(out, '..'), { recursive: true });
    writeFileSync(out, JSON.stringify({ at: new Date().toISOString(), ...result }, null, 2));
  } finally {
    await stopAll();
  }
}
