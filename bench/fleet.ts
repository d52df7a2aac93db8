import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from '../test/helpers/harness.js';
import { BenchCluster } from './benchCluster.js';
import { cpuMs } from './cpuTime.js';
import { stopAll } from './processes.js';

/**
 * The fleet (issue 20): a primary and four members (one the secondary) on 127.0.71.11-15, each
 * with `perServer` real clients from several `bench clients` processes (a process may hold at most
 * 20,000 files: 5,000 clients each). Reports the time until the primary browses them all, RSS and
 * CPU per server, the heartbeat CPU over a quiet window, the time of a full browse and of one page,
 * and a kill -9 of the primary: time until the secondary browses them all again, and how many never
 * came back.
 *
 * A section of `npm run bench` (`--only fleet`), and a script of its own:
 *   node dist/bench/fleet.js [--per-server 12000] [--quiet-seconds 60] [--out FILE]
 */

const PORT = 29443;
const SERVERS = [11, 12, 13, 14, 15].map((h) => `127.0.71.${h}:${PORT}`);
const PER_PROCESS = 5000;
const TARGET_MS = 10_000;
const RECOVERY_WINDOW_MS = 120_000;
/** The console's and `control browse`'s page. */
const PAGE = 500;

export interface ServerFigures {
  address: string;
  role: 'primary' | 'secondary' | 'member';
  clients: number;
  rssMB: number;
  /** CPU while the fleet arrived, in seconds of one core. */
  placementCpuS: number;
  /** CPU over the quiet window, % of one core: heartbeats and nothing else. */
  quietCpuPercent: number;
}

export interface FleetResult {
  perServer: number;
  clients: number;
  generatorProcesses: number;
  /** First client started → the primary's browse lists every client. */
  allBrowsableMs: number | null;
  servers: ServerFigures[];
  quietSeconds: number;
  /** One full browse on the primary: wall time and the size of the list. */
  fullBrowseMs: number;
  fullBrowseClients: number;
  /** One page (PAGE clients) of a paged browse on the primary, as the console asks. */
  onePageMs: number;
  pageSize: number;
  /** Clients that were on the primary when it was killed: those that must come back. */
  onPrimaryAtKill: number;
  /** kill -9 of the primary → the secondary browses every client; null if not within the window. */
  failoverAllBrowsableMs: number | null;
  /** kill -9 → every member linked to the acting secondary (sessions to their clients open from then). */
  failoverMembersLinkedMs: number | null;
  browsableAt10s: number;
  /** Not browsable when the window closed. */
  lost: number;
  timeline: [number, number][];
  /** The same moments by the server that holds the clients (host part of the address only). */
  timelineByServer: [number, Record<string, number>][];
  /** CPU seconds (of one core) in the first 10 s after the kill: the servers left, and the generators. */
  cpuToTargetS: { servers: number; generators: number };
  browseErrors: number;
  lastBrowseError: string | null;
  /** Connected by the generators' own account (browsable or not) at 10 s and when the watch ended. */
  connectedAt10s: number;
  connectedAtEnd: number;
  /** Why the generators' clients that were not connected at the end waited (their last reason). */
  waitingAtEnd: Record<string, number>;
  loadAverageAtStart: number;
  loadAverageAtKill: number;
  targetMs: number;
}

function rssMB(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : 0;
}

const loadAverage = () => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const value = await fn();
  return [value, Math.round(performance.now() - started)];
}

export async function runFleetBench(
  perServer: number,
  quietSeconds: number,
  log: (line: string) => void = (l) => process.stderr.write(l + '\n'),
): Promise<FleetResult> {
  const cluster = new BenchCluster({
    servers: SERVERS,
    secret: 'bench-fleet-secret-0123456789abc',
    key: 'bench-fleet-key-0123456789',
    settings: { 'admission-rate': '5000' },
    tempPrefix: 'sb-bench-fleet-',
  });
  const total = perServer * SERVERS.length;
  const loadAverageAtStart = loadAverage();
  try {
    await cluster.start();
    const servers = cluster.serverProcesses;
    const cpuBefore = servers.map((s) => cpuMs(s.child.pid!) ?? 0);
    const generators = Math.ceil(total / PER_PROCESS);
    log(`  fleet: ${total} clients from ${generators} generator processes (load average ${loadAverageAtStart})`);
    const startedAt = Date.now();
    await cluster.addClients(total, PER_PROCESS, 'g', 600_000).catch((err: Error) => log(`  fleet: ${err.message}`));
    // The generators may have taken long on a loaded machine: the primary is asked for a while after them.
    const { count: browsable } = await cluster.waitBrowsable(total, 300_000);
    const allBrowsableMs = browsable >= total ? Date.now() - startedAt : null;
    log(`  fleet: ${browsable} of ${total} browsable on the primary after ${Date.now() - startedAt} ms`);
    const cpuPlaced = servers.map((s) => cpuMs(s.child.pid!) ?? 0);

    // A quiet window: the clients are connected and nothing happens but heartbeats.
    await new Promise((r) => setTimeout(r, quietSeconds * 1000));
    const cpuQuiet = servers.map((s) => cpuMs(s.child.pid!) ?? 0);
    const [list, fullBrowseMs] = await timed(() => cluster.withControl(cluster.primary, (c) => c.browse()));
    const [page, onePageMs] = await timed(() =>
      cluster.withControl(cluster.primary, (c) => c.browsePage({ limit: PAGE })),
    );
    const clientsBy = new Map<string, number>();
    for (const c of list) clientsBy.set(c.server, (clientsBy.get(c.server) ?? 0) + 1);
    const figures: ServerFigures[] = servers.map((s, i) => ({
      address: SERVERS[i]!,
      role: i === 0 ? 'primary' : i === 1 ? 'secondary' : 'member',
      clients: clientsBy.get(SERVERS[i]!) ?? 0,
      rssMB: rssMB(s.child.pid!),
      placementCpuS: Math.round((cpuPlaced[i]! - cpuBefore[i]!) / 100) / 10,
      quietCpuPercent: Math.round(((cpuQuiet[i]! - cpuPlaced[i]!) / (quietSeconds * 1000)) * 1000) / 10,
    }));
    log(
      `  fleet: ${JSON.stringify(figures)}; full browse ${list.length} in ${fullBrowseMs} ms; one page of ${page.clients.length} in ${onePageMs} ms`,
    );

    const loadAverageAtKill = loadAverage();
    await cluster.killPrimary();
    if (process.env.FLEET_DEBUG) log(`  fleet: primary killed at ${new Date().toISOString()}`);
    const r = await cluster.watchRecovery(cluster.secondary, total, RECOVERY_WINDOW_MS, TARGET_MS);
    const waitingAtEnd = cluster.waitingReasons();
    log(
      `  fleet: after kill -9 of the primary (load average ${loadAverageAtKill}), ${r.atEnd} of ${total} browsable on the secondary ${r.allBackMs === null ? `when the ${RECOVERY_WINDOW_MS / 1000} s window closed` : `after ${r.allBackMs} ms`}; ${r.atTarget} at 10 s; every member linked to it after ${r.membersLinkedMs ?? 'never'} ms; timeline ${JSON.stringify(r.timeline)}; connected by the generators' account ${r.connectedAtTarget} at 10 s, ${r.connectedAtEnd} at the end; CPU in the first 10 s: servers ${r.cpuToTarget.servers} ms, generators ${r.cpuToTarget.generators} ms; ${r.browseErrors} failed browses${r.lastBrowseError ? ` (last: ${r.lastBrowseError})` : ''}; waiting at the end: ${JSON.stringify(waitingAtEnd)}`,
    );
    if (process.env.FLEET_DEBUG) {
      for (const line of cluster.warningsSinceKill()) log(`  fleet: ${line}`);
      log(`  fleet: by server ${JSON.stringify(r.byServer)}`);
      for (const returns of cluster.generatorReturns())
        log(`  fleet: a generator's returns ${JSON.stringify(returns)}`);
    }
    return {
      perServer,
      clients: total,
      generatorProcesses: generators,
      allBrowsableMs,
      servers: figures,
      quietSeconds,
      fullBrowseMs,
      fullBrowseClients: list.length,
      onePageMs,
      pageSize: page.clients.length,
      onPrimaryAtKill: clientsBy.get(cluster.primary) ?? 0,
      failoverAllBrowsableMs: r.allBackMs,
      failoverMembersLinkedMs: r.membersLinkedMs,
      browsableAt10s: r.atTarget,
      lost: total - r.atEnd,
      timeline: r.timeline,
      timelineByServer: r.byServer.map(([ms, by]) => [
        ms,
        Object.fromEntries(Object.entries(by).map(([a, n]) => [a.split(':')[0]!, n])),
      ]),
      cpuToTargetS: {
        servers: Math.round(r.cpuToTarget.servers / 100) / 10,
        generators: Math.round(r.cpuToTarget.generators / 100) / 10,
      },
      browseErrors: r.browseErrors,
      lastBrowseError: r.lastBrowseError,
      connectedAt10s: r.connectedAtTarget,
      connectedAtEnd: r.connectedAtEnd,
      waitingAtEnd,
      loadAverageAtStart,
      loadAverageAtKill,
      targetMs: TARGET_MS,
    };
  } finally {
    await cluster.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values: flags } = parseArgs({
    options: {
      'per-server': { type: 'string', default: '12000' },
      'quiet-seconds': { type: 'string', default: '60' },
      out: { type: 'string' },
    },
  });
  try {
    const result = await runFleetBench(Number(flags['per-server']), Number(flags['quiet-seconds']));
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    const out = flags.out ?? join(ROOT, 'bench', 'results', 'fleet.json');
    mkdirSync(join(out, '..'), { recursive: true });
    writeFileSync(out, JSON.stringify({ at: new Date().toISOString(), ...result }, null, 2));
  } finally {
    await stopAll();
  }
}
