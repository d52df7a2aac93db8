import { runIdleClients } from './idleClients.js';
import { runManySessions } from './manySessions.js';
import { runPlacementRate } from './placementRate.js';
import { table } from './stats.js';

/**
 * The sections of `npm run bench` for issue 7's scale benchmarks (many sessions, idle clients,
 * placement rate): each runs its benchmark at full or quick size and returns its JSON entry for
 * the report and its table for stdout. Kept apart from run.ts so that run.ts only lists them.
 */
export interface Section {
  /** The report's key. */
  key: string;
  json: unknown;
  lines: string[];
}

type Log = (line: string) => void;

export async function manySessionsSection(quick: boolean, log: Log): Promise<Section> {
  log('many sessions:');
  const r = await runManySessions({
    sessions: 200,
    rounds: quick ? 1 : 3,
    warmupMs: quick ? 2000 : 3000,
    windowMs: quick ? 5000 : 20_000,
    log,
  });
  return {
    key: 'manySessions',
    json: r,
    lines: [
      `Many sessions: ${r.sessions} concurrent downloads for ${r.windowMs / 1000} s, aggregate MB/s (median of the rounds) and per-session MB/s of the median round`,
      table(
        ['path', 'aggregate MB/s', 'switchboard / this', 'min', 'median', 'max', 'min/median', 'Jain', 'open all (ms)'],
        [r.baseline, r.flaggedBaseline, r.subject].map((f) => [
          f.path,
          f.aggregateMBps,
          f === r.baseline ? r.ratio : f === r.flaggedBaseline ? r.flaggedRatio : 1,
          f.minMBps,
          f.medianMBps,
          f.maxMBps,
          f.minOverMedian,
          f.jain,
          f.setupMs,
        ]),
      ),
    ],
  };
}

export async function idleSection(quick: boolean, log: Log): Promise<Section> {
  log('idle clients:');
  const r = await runIdleClients({
    clients: quick ? 2000 : 15_000,
    processes: quick ? 2 : 4,
    idleSeconds: quick ? 10 : 30,
    log,
  });
  return {
    key: 'idleClients',
    json: r,
    lines: [
      `Idle clients: ${r.clients} connections, bytes per connection after a warm-up tenth (node ${r.nodeFlags.join(' ')}); CPU over ${r.idleSeconds} s idle, % of one core`,
      table(
        [
          'server',
          'RSS/conn after GC',
          'ratio',
          'heap/conn after GC',
          'ratio',
          'RSS/conn no GC',
          'RSS/conn from empty',
          'RSS empty MB',
          'RSS after GC MB',
          'idle CPU %',
        ],
        [r.baseline, r.subject].map((f) => [
          f.path,
          f.rssPerConnectionAfterGc,
          f === r.subject ? r.rssRatio : 1,
          f.heapPerConnectionAfterGc,
          f === r.subject ? r.heapRatio : 1,
          f.rssPerConnection,
          f.rssPerConnectionFromEmpty,
          f.rssBeforeMB,
          f.rssAfterGcMB,
          f.idleCpuPercent,
        ]),
      ),
    ],
  };
}

export async function placementSection(quick: boolean, log: Log): Promise<Section> {
  log('placement rate:');
  const r = await runPlacementRate({
    clients: quick ? 1000 : 5000,
    concurrency: 100,
    processes: 2,
    rounds: quick ? 1 : 3,
    log,
  });
  return {
    key: 'placement',
    json: r,
    lines: [
      `Placement rate: ${r.clients} clients, ${r.concurrency} in progress at once, per second (median of the rounds)`,
      table(
        [
          'path',
          'per second',
          'ratio',
          'rounds',
          'retries',
          'server CPU ms/client',
          'of which primary',
          'generator CPU ms/client',
        ],
        [r.baseline, r.floor, r.subject].map((f) => [
          f.path,
          f.perSecond,
          f === r.subject ? r.ratio : f === r.floor ? r.floorRatio : 1,
          f.rounds.join(','),
          f.retries.join(','),
          f.serverCpuMsPerClient,
          f.primaryCpuMsPerClient ?? '',
          f.generatorCpuMsPerClient,
        ]),
      ),
      `Switchboard against the protocol floor: ${r.ratioToFloor}`,
    ],
  };
}
