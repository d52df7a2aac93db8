import type { BenchCase, BenchPath } from './paths.js';
import type { Driver } from './processes.js';
import { mean, percentile, round, turn } from './stats.js';

/**
 * Session setup latency: the driver connects and times the first byte of the service's banner,
 * one connection after another. Through `control forward` that is the whole of a session's setup
 * (the control's open request, the server asking the client, the client dialling its service and
 * opening its data connection, the control opening its own; through a cluster, the primary also
 * asks the member and dials its data connection to it); through the relay chain it is a plain TCP
 * connect relayed once per relay (as many relays as the Switchboard path has processes). The
 * paths alternate in blocks, after a warm-up each.
 */
export interface LatencyFigures {
  path: string;
  samples: number;
  p50: number;
  p99: number;
  mean: number;
  max: number;
}

export interface LatencyResult {
  case: string;
  baseline: LatencyFigures;
  subject: LatencyFigures;
  /** subject p50 / baseline p50 (how many times slower a session starts than a relayed connect). */
  p50Ratio: number;
  p99Ratio: number;
}

export interface LatencyOptions {
  samples: number;
  warmup: number;
  block: number;
  log: (line: string) => void;
}

function figures(path: BenchPath, samples: number[]): LatencyFigures {
  return {
    path: path.name,
    samples: samples.length,
    p50: round(percentile(samples, 50), 2),
    p99: round(percentile(samples, 99), 2),
    mean: round(mean(samples), 2),
    max: round(Math.max(...samples), 2),
  };
}

export async function runSetupLatency(
  driver: Driver,
  cases: BenchCase[],
  opts: LatencyOptions,
): Promise<LatencyResult[]> {
  const results: LatencyResult[] = [];
  for (const c of cases) {
    const paths = [c.baseline, ...c.subjects];
    for (const path of paths) await driver.firstByte(path.address, opts.warmup);
    const samples = new Map<BenchPath, number[]>(paths.map((p) => [p, []]));
    for (let taken = 0, b = 0; taken < opts.samples; taken += opts.block, b++) {
      const n = Math.min(opts.block, opts.samples - taken);
      for (const path of turn(paths, b)) samples.get(path)!.push(...(await driver.firstByte(path.address, n)));
    }
    const baseline = figures(c.baseline, samples.get(c.baseline)!);
    opts.log(`  ${c.label}: ${baseline.path} p50 ${baseline.p50} ms p99 ${baseline.p99} ms`);
    for (const s of c.subjects) {
      const subject = figures(s, samples.get(s)!);
      opts.log(`  ${c.label}: ${subject.path} p50 ${subject.p50} ms p99 ${subject.p99} ms`);
      results.push({
        case: c.label,
        baseline,
        subject,
        p50Ratio: round(subject.p50 / baseline.p50, 1),
        p99Ratio: round(subject.p99 / baseline.p99, 1),
      });
    }
  }
  return results;
}
