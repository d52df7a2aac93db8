import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from '../test/helpers/harness.js';
import { startRelayChain, startSwitchboard, type BenchCase, type BenchPath } from './paths.js';
import { Driver, startScript, stopAll } from './processes.js';
import { runSetupLatency, type LatencyResult } from './setupLatency.js';
import { round, table } from './stats.js';
import { idleSection, manySessionsSection, placementSection, type Section } from './scaleSections.js';
import { runThroughput, type ThroughputResult } from './throughput.js';

/**
 * `npm run bench [-- options]`: every benchmark against a baseline measured in the same run, a
 * table of figures and ratios on stdout, and the same as JSON in bench/results/latest.json.
 *
 *   --quick            small transfers and few samples: a smoke run, not figures to publish
 *   --mb N             MB per throughput transfer (default 1024)
 *   --repeats N        transfers per path and case (default 5; the median is reported)
 *   --samples N        setup-latency samples per path (default 500)
 *   --only NAME        throughput | latency | many-sessions | idle | placement
 *   --no-tls           skip the TLS cases
 *   --direction D      download | upload (default both)
 *   --variant=FLAGS    also measure Switchboard with these node flags, e.g. --variant=--initial-heap-size=64
 *                      (repeatable; each variant is one more path in the same rotation)
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
        only: { type: 'string' },
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

const RELAY_PROCESSES = 3;
const mb = Number(flags.mb ?? (flags.quick ? 64 : 1024));
const repeats = Number(flags.repeats ?? (flags.quick ? 2 : 5));
const samples = Number(flags.samples ?? (flags.quick ? 50 : 500));
for (const [name, value] of Object.entries({ mb, repeats, samples })) {
  if (!Number.isInteger(value) || value < 1) usage(`--${name} must be a positive whole number`);
}
const SECTIONS = ['throughput', 'latency', 'many-sessions', 'idle', 'placement'];
if (flags.only && !SECTIONS.includes(flags.only)) usage(`--only must be one of ${SECTIONS.join(', ')}`);
if (flags.direction && flags.direction !== 'download' && flags.direction !== 'upload') usage('--direction must be download or upload');
const wanted = (name: string) => !flags.only || flags.only === name;
const log = (line: string) => process.stderr.write(line + '\n');

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

async function main(): Promise<void> {
  const started = new Date();
  const atStart = machine();
  log(`switchboard bench: ${mb} MB x ${repeats} per throughput case, ${samples} setup samples per path`);
  const variants = flags.variant!;
  const cases: BenchCase[] = [];
  // The one-session paths are started only when a one-session benchmark runs.
  const onePath = wanted('throughput') || wanted('latency');
  const service = onePath ? await startScript('service.js') : undefined;
  const driver = onePath ? await Driver.start() : undefined;
  for (const tls of !service ? [] : flags['no-tls'] ? [false] : [false, true]) {
    const sb = await startSwitchboard(service!.address, { tls });
    const chain = await startRelayChain(service!.address, RELAY_PROCESSES, sb.tls);
    const subjects: BenchPath[] = [sb];
    for (const v of variants) {
      subjects.push(await startSwitchboard(service!.address, { tls, nodeFlags: v.split(/\s+/), label: `${tls ? '(TLS) ' : ''}[${v}]` }));
    }
    cases.push({ label: tls ? 'TLS' : 'plain', baseline: chain, subjects });
  }
  const directions = flags.direction ? [flags.direction as 'download' | 'upload'] : (['download', 'upload'] as const);

  let throughput: ThroughputResult[] = [];
  let latency: LatencyResult[] = [];
  if (wanted('throughput')) {
    log('throughput:');
    throughput = await runThroughput(driver!, cases, { bytes: mb * 1e6, warmupBytes: Math.min(mb, 128) * 1e6, repeats, directions: [...directions], log });
  }
  if (wanted('latency')) {
    log('session setup latency:');
    latency = await runSetupLatency(driver!, cases, { samples, warmup: Math.min(50, samples), block: 50, log });
  }

  // Issue 7's scale benchmarks: each section runs its own paths, and adds a JSON entry and a table.
  const sections: Section[] = [];
  for (const [name, section] of [['many-sessions', manySessionsSection], ['idle', idleSection], ['placement', placementSection]] as const) {
    if (wanted(name)) sections.push(await section(flags.quick!, log));
  }

  const report = {
    date: started.toISOString(),
    machine: { ...atStart, loadAverageAtEnd: round(loadavg()[0]!, 2) },
    config: { mb, repeats, samples, relayProcesses: RELAY_PROCESSES, quick: flags.quick, variants },
    throughput,
    latency,
    ...Object.fromEntries(sections.map((s) => [s.key, s.json])),
  };

  const out: string[] = [];
  if (throughput.length) {
    out.push(`Relay throughput, one session, ${mb} MB per transfer, median of ${repeats} (MB/s = 10^6 bytes/s)`);
    out.push(table(
      ['case', 'direction', 'path', 'MB/s', 'chain MB/s', 'ratio', 'CPU ms/GB (control,server,client)', 'chain CPU ms/GB (r1,r2,r3)'],
      throughput.map((t) => [t.case, t.direction, t.subject.path, t.subject.mbps, t.baseline.mbps, t.ratio, t.subject.cpuMsPerGB?.join(',') ?? '-', t.baseline.cpuMsPerGB?.join(',') ?? '-']),
    ));
  }
  if (latency.length) {
    out.push('', `Session setup: connect to first byte of the service, ${samples} samples per path (ms)`);
    out.push(table(
      ['case', 'path', 'p50', 'p99', 'chain p50', 'chain p99', 'p50 ratio', 'p99 ratio'],
      latency.map((l) => [l.case, l.subject.path, l.subject.p50, l.subject.p99, l.baseline.p50, l.baseline.p99, l.p50Ratio, l.p99Ratio]),
    ));
  }
  for (const s of sections) out.push('', ...s.lines);
  const m = report.machine;
  out.push('', `machine: ${m.cpus} x ${m.cpuModel}, ${m.memoryMB} MB, node ${m.node}, ${m.platform}; load average ${m.loadAverage} at start, ${m.loadAverageAtEnd} at end`);
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
