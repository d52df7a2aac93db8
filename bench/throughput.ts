import { cpuDelta, cpuSnapshot } from './cpuTime.js';
import type { BenchCase, BenchPath } from './paths.js';
import type { Driver } from './processes.js';
import { median, round, turn } from './stats.js';

/**
 * Relay throughput of one session: the driver downloads (or uploads) a fixed number of bytes from
 * the service through a path, and the rate is bytes / transfer time (session setup excluded; the
 * setup benchmark measures that). Each path is measured `repeats` times, the paths taking turns to
 * go first, after one warm-up transfer each; the median is reported. A case may have several
 * subject (e.g. the same Switchboard path with different node flags), each compared to the baseline.
 */

export interface PathFigures {
  path: string;
  /** Median MB/s (10^6 bytes per second). */
  mbps: number;
  runs: number[];
  /** Median CPU milliseconds per GB (10^9 bytes) of each relay process, driver side first. */
  cpuMsPerGB?: number[];
}

export interface ThroughputResult {
  case: string;
  direction: 'download' | 'upload';
  bytes: number;
  baseline: PathFigures;
  subject: PathFigures;
  /** subject / baseline, of the medians. */
  ratio: number;
}

export interface ThroughputOptions {
  bytes: number;
  warmupBytes: number;
  repeats: number;
  directions: ('download' | 'upload')[];
  log: (line: string) => void;
}

async function measure(
  driver: Driver,
  path: BenchPath,
  direction: 'download' | 'upload',
  bytes: number,
): Promise<{ mbps: number; cpu?: number[] }> {
  const before = cpuSnapshot(path.pids);
  const result = await driver.transfer(direction, path.address, bytes);
  const cpu = cpuDelta(before, cpuSnapshot(path.pids));
  return { mbps: bytes / 1e6 / (result.ms / 1000), cpu: cpu?.map((ms) => (ms * 1e9) / bytes) };
}

function figures(path: BenchPath, runs: { mbps: number; cpu?: number[] }[]): PathFigures {
  const cpuRuns = runs.map((r) => r.cpu);
  const cpuMsPerGB = cpuRuns.every((c) => c)
    ? path.pids.map((_, i) => round(median(cpuRuns.map((c) => c![i]!)), 0))
    : undefined;
  return {
    path: path.name,
    mbps: round(median(runs.map((r) => r.mbps)), 1),
    runs: runs.map((r) => round(r.mbps, 1)),
    cpuMsPerGB,
  };
}

export async function runThroughput(
  driver: Driver,
  cases: BenchCase[],
  opts: ThroughputOptions,
): Promise<ThroughputResult[]> {
  const results: ThroughputResult[] = [];
  for (const c of cases) {
    const paths = [c.baseline, ...c.subjects];
    for (const direction of opts.directions) {
      for (const path of paths) await driver.transfer(direction, path.address, opts.warmupBytes);
      const runs = new Map<BenchPath, { mbps: number; cpu?: number[] }[]>(paths.map((p) => [p, []]));
      for (let r = 0; r < opts.repeats; r++) {
        for (const path of turn(paths, r)) {
          const run = await measure(driver, path, direction, opts.bytes);
          runs.get(path)!.push(run);
          opts.log(`  ${c.label} ${direction} #${r + 1} ${path.name}: ${run.mbps.toFixed(1)} MB/s`);
        }
      }
      const baseline = figures(c.baseline, runs.get(c.baseline)!);
      for (const s of c.subjects) {
        const subject = figures(s, runs.get(s)!);
        results.push({
          case: c.label,
          direction,
          bytes: opts.bytes,
          baseline,
          subject,
          ratio: round(subject.mbps / baseline.mbps, 3),
        });
      }
    }
  }
  return results;
}
