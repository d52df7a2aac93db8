import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from '../test/helpers/harness.js';
import { runFailoverBench, type FailoverResult } from './failover.js';
import { fileCopySection } from './fileCopySection.js';
import {
  startRelayChain,
  startSwitchboard,
  startSwitchboardCluster,
  type BenchCase,
  type BenchPath,
  type SwitchboardPath,
} from './paths.js';
import { Driver, shippedNodeFlags, startScript, stopAll } from './processes.js';
import { consoleListSection } from './consoleList.js';
import { deviceHelloSection } from './deviceHello.js';
import { idleSection, manySessionsSection, placementSection, type Section as ScaleSection } from './scaleSections.js';
import { fleetSection } from './fleetSection.js';
import { runSetupLatency, type LatencyResult } from './setupLatency.js';
import { keystrokeSection } from './keystrokeEcho.js';
import { round, table } from './stats.js';
import { runThroughput, type ThroughputResult } from './throughput.js';

/**
 * `npm run bench [-- options]`: every benchmark against a baseline measured in the same run, a
 * table of figures and ratios on stdout, and the same as JSON in bench/results/latest.json.
 *
 *   --quick            small transfers, few samples, 2000 failover clients: a smoke run, not figures to publish
 *   --mb N             MB per throughput transfer (default 1024)
 *   --repeats N        transfers per path and case (default 5; the median is reported)
 *   --samples N        setup-latency samples per path (default 500)
 *   --only A,B         sections to run (default all): throughput, latency (one server),
 *                      cluster-throughput, cluster-latency (primary + member; `cluster` = both),
 *                      many-sessions, idle, placement (issue 7's scale benchmarks), failover,
 *                      file-copy (control cp against scp over a forward; 512 MB x 3, --quick 64 MB x 1)
 *                      fleet (issue 20: a primary and four members, 12,000 clients each, and a failover)
 *                      console-list (issue 20: the console's list of 60,000 clients in chromium)
 *                      keystroke (issue 19: echo through a shell session against ssh over a forward)
 *                      device-hello (issue 17: server CPU per hello with 60,000 known devices; 3000 x 3, --quick 500 x 1)
 *   --failover-clients N   clients in the failover section (default 10000)
 *   --no-tls           skip the TLS cases
 *   --direction D      download | upload (default both)
 *   --variant=FLAGS    also measure the one-server path with these node flags instead of the shipped
 *                      ones (bin/switchboard.js's shebang), e.g. --variant=--initial-heap-size=64;
 *                      --variant=none is plain `node` (repeatable; each variant is one more path in the rotation);
 *                      --variant=bare is `node bin/switchboard.js` as a user or a service might start it
 *                      (no flag, no shebang environment: the bin then starts itself again with them)
 *   --out FILE         where to write the JSON (default bench/results/latest.json; quick.json with --quick)
 */
function usage(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}

function parseFlags() {
  try {
    return parseArgs({
      options: {
        quick: { type: 'boolean', default: false },
        mb: { type: 'string' },
        repeats: { type: 'string' },
        samples: { type: 'string' },
        only: { type: 'string', multiple: true, default: [] },
        'failover-clients': { type: 'string' },
        'no-tls': { type: 'boolean', default: false },
        direction: { type: 'string' },
        variant: { type: 'string', multiple: true, default: [] },
        out: { type: 'string' },
      },
    }).values;
  } catch (err) {
    return usage((err as Error).message);
  }
}
const flags = parseFlags();

const SECTIONS = [
  'throughput',
  'latency',
  'cluster-throughput',
  'cluster-latency',
  'many-sessions',
  'idle',
  'placement',
  'failover',
  'file-copy',
  'fleet',
  'console-list',
  'keystroke',
  'device-hello',
] as const;
type Section = (typeof SECTIONS)[number];
const ALIASES: Record<string, Section[]> = { cluster: ['cluster-throughput', 'cluster-latency'] };

/** Relaying processes between the driver and the service, in each topology (the chain matches it). */
const RELAY_PROCESSES = { server: 3, cluster: 4 };
const mb = Number(flags.mb ?? (flags.quick ? 64 : 1024));
const repeats = Number(flags.repeats ?? (flags.quick ? 2 : 5));
const samples = Number(flags.samples ?? (flags.quick ? 50 : 500));
const failoverClients = Number(flags['failover-clients'] ?? (flags.quick ? 2000 : 10_000));
for (const [name, value] of Object.entries({ mb, repeats, samples, 'failover-clients': failoverClients })) {
  if (!Number.isInteger(value) || value < 1) usage(`--${name} must be a positive whole number`);
}
const only = new Set<Section>();
for (const name of flags.only!.flatMap((o) => o.split(',')).filter(Boolean)) {
  if (ALIASES[name]) ALIASES[name].forEach((s) => only.add(s));
  else if ((SECTIONS as readonly string[]).includes(name)) only.add(name as Section);
  else usage(`--only takes ${[...SECTIONS, ...Object.keys(ALIASES)].join(', ')} (comma-separated or repeated)`);
}
if (flags.direction && flags.direction !== 'download' && flags.direction !== 'upload')
  usage('--direction must be download or upload');
const wanted = (name: Section) => only.size === 0 || only.has(name);
const log = (line: string) => process.stderr.write(line + '\n');
const directions = flags.direction ? [flags.direction as 'download' | 'upload'] : (['download', 'upload'] as const);
const tlsModes = flags['no-tls'] ? [false] : [false, true];
/** `--variant=none`: node without any flag, i.e. Switchboard before the shebang carried one. */
const variantFlags = (v: string) => (v === 'none' || v === 'bare' ? [] : v.split(/\s+/).filter(Boolean));
/** `--variant=bare`: without the shebang's environment either (undefined removes a variable from a child's environment). */
const variantEnv = (v: string): NodeJS.ProcessEnv => (v === 'bare' ? { MALLOC_TRIM_THRESHOLD_: undefined } : {});

function machine() {
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryMB: Math.round(totalmem() / 2 ** 20),
    freeMemoryMB: Math.round(freemem() / 2 ** 20),
    node: process.version,
    platform: `${process.platform} ${release()}`,
    /** 1-minute load average: other work on the machine competes with the benchmark for CPU. */
    loadAverage: round(loadavg()[0]!, 2),
  };
}

/** The processes every relay benchmark shares (the service and the sink), started on first use. */
let shared: Promise<{ service: { address: string }; driver: Driver }> | undefined;
function sharedProcesses() {
  shared ??= (async () => ({ service: await startScript('service.js'), driver: await Driver.start() }))();
  return shared;
}

/** One Switchboard server against a 3-relay chain, plain and TLS (the port sniffed, and `--tls-only`), with the variants as extra subjects. */
let serverCases: Promise<BenchCase[]> | undefined;
function oneServerCases(): Promise<BenchCase[]> {
  serverCases ??= (async () => {
    const { service } = await sharedProcesses();
    const cases: BenchCase[] = [];
    for (const tls of tlsModes) {
      const sb = await startSwitchboard(service.address, { tls });
      const chain = await startRelayChain(service.address, RELAY_PROCESSES.server, sb.tls);
      const subjects: BenchPath[] = [sb];
      if (tls) subjects.push(await startSwitchboard(service.address, { tls, tlsOnly: true }));
      for (const v of flags.variant!) {
        subjects.push(
          await startSwitchboard(service.address, {
            tls,
            nodeFlags: variantFlags(v),
            env: variantEnv(v),
            label: `${tls ? '(TLS) ' : ''}[${v}]`,
          }),
        );
      }
      cases.push({ label: tls ? 'TLS' : 'plain', baseline: chain, subjects });
    }
    return cases;
  })();
  return serverCases;
}

/** A primary + member cluster (client on the member) against a 4-relay chain, plain and TLS (sniffed, and `--tls-only`). */
let clusterCases: Promise<BenchCase[]> | undefined;
function twoServerCases(): Promise<BenchCase[]> {
  clusterCases ??= (async () => {
    const { service } = await sharedProcesses();
    const cases: BenchCase[] = [];
    for (const tls of tlsModes) {
      const subjects: SwitchboardPath[] = [];
      for (const opts of tls ? [{ tls }, { tls, tlsOnly: true }] : [{ tls }]) {
        const cluster = await startSwitchboardCluster(service.address, opts);
        log(`  cluster ${cluster.name}: primary ${cluster.server}, client on the member ${cluster.member}`);
        subjects.push(cluster);
      }
      const chain = await startRelayChain(service.address, RELAY_PROCESSES.cluster, subjects[0]!.tls);
      cases.push({ label: tls ? 'cluster TLS' : 'cluster plain', baseline: chain, subjects });
    }
    return cases;
  })();
  return clusterCases;
}

// ---- sections: each measures, and returns its JSON and its table -----------------------------

interface SectionOutput {
  json: unknown;
  text: string;
}

async function throughputSection(
  cases: BenchCase[],
  title: string,
  cpuColumns: string,
  chainColumns: string,
): Promise<SectionOutput> {
  const { driver } = await sharedProcesses();
  const results: ThroughputResult[] = await runThroughput(driver, cases, {
    bytes: mb * 1e6,
    warmupBytes: Math.min(mb, 128) * 1e6,
    repeats,
    directions: [...directions],
    log,
  });
  const text = [
    `${title}, ${mb} MB per transfer, median of ${repeats} (MB/s = 10^6 bytes/s)`,
    table(
      [
        'case',
        'direction',
        'path',
        'MB/s',
        'chain MB/s',
        'ratio',
        `CPU ms/GB (${cpuColumns})`,
        `chain CPU ms/GB (${chainColumns})`,
      ],
      results.map((t) => [
        t.case,
        t.direction,
        t.subject.path,
        t.subject.mbps,
        t.baseline.mbps,
        t.ratio,
        t.subject.cpuMsPerGB?.join(',') ?? '-',
        t.baseline.cpuMsPerGB?.join(',') ?? '-',
      ]),
    ),
  ].join('\n');
  return { json: results, text };
}

async function latencySection(cases: BenchCase[], title: string): Promise<SectionOutput> {
  const { driver } = await sharedProcesses();
  const results: LatencyResult[] = await runSetupLatency(driver, cases, {
    samples,
    warmup: Math.min(50, samples),
    block: 50,
    log,
  });
  const text = [
    `${title}: connect to first byte of the service, ${samples} samples per path (ms)`,
    table(
      ['case', 'path', 'p50', 'p99', 'chain p50', 'chain p99', 'p50 ratio', 'p99 ratio'],
      results.map((l) => [
        l.case,
        l.subject.path,
        l.subject.p50,
        l.subject.p99,
        l.baseline.p50,
        l.baseline.p99,
        l.p50Ratio,
        l.p99Ratio,
      ]),
    ),
  ].join('\n');
  return { json: results, text };
}

async function failoverSection(): Promise<SectionOutput> {
  const result: FailoverResult = await runFailoverBench(failoverClients, 2500, log);
  const text = [
    `Failover: kill -9 of the primary with ${result.clients} clients; time until the secondary's browse lists them all (target ${result.targetMs / 1000} s)`,
    table(
      [
        'clients',
        'connect ms',
        'all browsable after ms',
        'browsable at 10 s',
        'missing at 10 s',
        'browsable at end',
        'target ms',
      ],
      [
        [
          result.clients,
          result.connectMs,
          result.allBrowsableAfterMs ?? 'not in 60 s',
          result.browsableAt10s,
          result.missingAt10s,
          result.browsableAtEnd,
          result.targetMs,
        ],
      ],
    ),
  ].join('\n');
  return { json: result, text };
}

/** Issue 7's scale benchmarks (bench/scaleSections.ts) start their own processes. */
function scaleText(section: ScaleSection): SectionOutput {
  return { json: section.json, text: section.lines.join('\n') };
}

/** Sections in the order they run; the keys are the JSON report's. */
const sections: { name: Section; key: string; run: () => Promise<SectionOutput> }[] = [
  {
    name: 'throughput',
    key: 'throughput',
    run: async () =>
      throughputSection(
        await oneServerCases(),
        'Relay throughput, one session, one server',
        'control,server,client',
        'r1,r2,r3',
      ),
  },
  {
    name: 'latency',
    key: 'latency',
    run: async () => latencySection(await oneServerCases(), 'Session setup, one server'),
  },
  {
    name: 'cluster-throughput',
    key: 'clusterThroughput',
    run: async () =>
      throughputSection(
        await twoServerCases(),
        'Relay throughput, one session through primary + member',
        'control,primary,member,client',
        'r1,r2,r3,r4',
      ),
  },
  {
    name: 'cluster-latency',
    key: 'clusterLatency',
    run: async () => latencySection(await twoServerCases(), 'Session setup through primary + member'),
  },
  {
    name: 'many-sessions',
    key: 'manySessions',
    run: async () => scaleText(await manySessionsSection(flags.quick!, log)),
  },
  { name: 'idle', key: 'idle', run: async () => scaleText(await idleSection(flags.quick!, log)) },
  { name: 'placement', key: 'placement', run: async () => scaleText(await placementSection(flags.quick!, log)) },
  { name: 'failover', key: 'failover', run: failoverSection },
  { name: 'file-copy', key: 'fileCopy', run: () => fileCopySection(flags.quick!) },
  { name: 'fleet', key: 'fleet', run: async () => scaleText(await fleetSection(flags.quick!, log)) },
  { name: 'console-list', key: 'consoleList', run: async () => scaleText(await consoleListSection(flags.quick!, log)) },
  { name: 'keystroke', key: 'keystroke', run: async () => scaleText(await keystrokeSection(flags.quick!, log)) },
  { name: 'device-hello', key: 'deviceHello', run: () => deviceHelloSection(flags.quick!, log) },
];

async function main(): Promise<void> {
  const started = new Date();
  const atStart = machine();
  const chosen = sections.filter((s) => wanted(s.name));
  log(
    `switchboard bench: ${chosen.map((s) => s.name).join(', ')}; ${mb} MB x ${repeats} per throughput case, ${samples} setup samples per path, ${failoverClients} failover clients`,
  );
  log(
    `switchboard processes run with node ${shippedNodeFlags().join(' ') || '(no flags)'} (bin/switchboard.js's shebang)`,
  );
  const results: Record<string, unknown> = {};
  const out: string[] = [];
  for (const s of chosen) {
    log(`${s.name}:`);
    // One failing section (a stuck failover, say) must not throw away the figures of the others.
    try {
      const { json, text } = await s.run();
      results[s.key] = json;
      out.push(text, '');
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      log(`${s.name} failed: ${err instanceof Error ? err.stack : message}`);
      results[s.key] = { error: message };
      out.push(`${s.name}: FAILED: ${message.slice(0, 2000)}`, '');
      process.exitCode = 1;
    }
  }

  const report = {
    date: started.toISOString(),
    machine: { ...atStart, loadAverageAtEnd: round(loadavg()[0]!, 2) },
    config: {
      sections: chosen.map((s) => s.name),
      mb,
      repeats,
      samples,
      failoverClients,
      relayProcesses: RELAY_PROCESSES,
      quick: flags.quick,
      shippedNodeFlags: shippedNodeFlags(),
      variants: flags.variant,
    },
    ...results,
  };
  const m = report.machine;
  out.push(
    `machine: ${m.cpus} x ${m.cpuModel}, ${m.memoryMB} MB, node ${m.node}, ${m.platform}; load average ${m.loadAverage} at start, ${m.loadAverageAtEnd} at end`,
  );
  process.stdout.write(out.join('\n') + '\n');

  // A smoke run must not replace the figures of the last full run.
  const file = flags.out ?? join(ROOT, 'bench', 'results', flags.quick ? 'quick.json' : 'latest.json');
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  log(`wrote ${file}`);
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(() => stopAll());
