import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fairness, type Fairness } from './fairness.js';
import type { ParallelRequest, ParallelResult } from './parallelSink.js';
import { MAX_CONTROLS_PER_FORWARD, SESSIONS_PER_CONTROL } from '../src/control/controlPool.js';
import { startForward, startRelayChain, startSwitchboard, type BenchPath } from './paths.js';
import { shippedNodeFlags, startScript, track } from './processes.js';
import { median, round, turn } from './stats.js';

/**
 * Many sessions (issue 7, benchmark 2): `sessions` concurrent downloads through one Switchboard
 * server (driver → `control forward` listeners → server → client → service, a session per
 * connection) against the same number of concurrent connections through the 3-process relay chain.
 * One forward holds 256 sessions at once (four control channels of 64: src/control/controlPool.ts),
 * so 200 go through one forward again; more are spread evenly over as many forwards as that takes.
 * (Sessions 6 to 9 used four forwards of 50: one forward then held one control's 64.)
 * Each round the sink (parallelSink.ts) runs all sessions at once for a fixed window; the paths take
 * turns going first. Reported: aggregate MB/s (median of the rounds), the ratio, and the fairness of
 * the round with the median aggregate: per-session min / median / max and Jain's index.
 * The chain is also measured with Switchboard's node flags, as a second baseline: with 200 streams
 * a plain relay's heap settings matter too, and the ratio should not credit Switchboard for them.
 */
const HERE = dirname(fileURLToPath(import.meta.url));

export interface ManySessionsOptions {
  sessions: number;
  rounds: number;
  warmupMs: number;
  windowMs: number;
  log: (line: string) => void;
}

export interface ManyFigures extends Fairness {
  path: string;
  /** Median over the rounds of the aggregate MB/s (10^6 bytes/s). */
  aggregateMBps: number;
  rounds: number[];
  /** Time to open all sessions (20 at a time), in the median round. */
  setupMs: number;
}

export interface ManySessionsResult {
  sessions: number;
  windowMs: number;
  baseline: ManyFigures;
  subject: ManyFigures;
  /** subject / baseline aggregate */
  ratio: number;
  /** The chain started with the same node flags as Switchboard, and subject / that. */
  flaggedBaseline: ManyFigures;
  flaggedRatio: number;
}

/** The sink process, one request at a time. */
class Sink {
  private constructor(private readonly child: ChildProcess) {}

  static async start(): Promise<Sink> {
    const child = fork(join(HERE, 'parallelSink.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    track(child);
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`the sink exited (${code}) at start`)));
    });
    return new Sink(child);
  }

  run(req: ParallelRequest): Promise<ParallelResult> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${req.sessions} sessions via ${req.addresses.join(', ')} did not finish in 5 minutes`)),
        300_000,
      );
      this.child.once('message', (m: ParallelResult & { error?: string }) => {
        clearTimeout(timer);
        if (m.error) reject(new Error(m.error));
        else resolve(m);
      });
      this.child.send(req);
    });
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }
}

interface Round {
  aggregate: number;
  rates: number[];
  setupMs: number;
}

function figures(path: BenchPath, rounds: Round[]): ManyFigures {
  const aggregates = rounds.map((r) => r.aggregate);
  const m = median(aggregates);
  const mid = rounds.find((r) => r.aggregate === m)!;
  return {
    path: path.name,
    aggregateMBps: round(m, 1),
    rounds: aggregates.map((a) => round(a, 1)),
    setupMs: mid.setupMs,
    ...fairness(mid.rates),
  };
}

export async function runManySessions(opts: ManySessionsOptions): Promise<ManySessionsResult> {
  const service = await startScript('service.js');
  try {
    const sb = await startSwitchboard(service.address, { tls: false, nodeFlags: shippedNodeFlags() });
    const servicePort = service.address.slice(service.address.lastIndexOf(':') + 1);
    const forwards = Math.ceil(opts.sessions / (SESSIONS_PER_CONTROL * MAX_CONTROLS_PER_FORWARD));
    const more = await Promise.all(
      Array.from({ length: forwards - 1 }, () => startForward(sb, servicePort, shippedNodeFlags())),
    );
    const sbAddresses = [sb.address, ...more.map((f) => f.address)];
    sb.pids.unshift(...more.map((f) => f.pid));
    const chain = await startRelayChain(service.address, 3);
    const flagged = {
      ...(await startRelayChain(service.address, 3, undefined, shippedNodeFlags())),
      name: `relay chain [${shippedNodeFlags().join(' ')}]`,
    };
    const sink = await Sink.start();
    try {
      const paths = [chain, flagged, sb];
      const rounds = new Map<BenchPath, Round[]>(paths.map((p) => [p, []]));
      for (let r = 0; r < opts.rounds; r++) {
        for (const path of turn(paths, r)) {
          const res = await sink.run({
            addresses: path === sb ? sbAddresses : [path.address],
            sessions: opts.sessions,
            warmupMs: opts.warmupMs,
            windowMs: opts.windowMs,
          });
          const seconds = res.windowMs / 1000;
          const rates = res.bytes.map((b) => b / 1e6 / seconds);
          const aggregate = rates.reduce((a, b) => a + b, 0);
          rounds.get(path)!.push({ aggregate, rates, setupMs: res.setupMs });
          const f = fairness(rates);
          opts.log(
            `  #${r + 1} ${path.name}: ${aggregate.toFixed(1)} MB/s over ${opts.sessions} sessions; per session min ${f.minMBps} median ${f.medianMBps} max ${f.maxMBps}, Jain ${f.jain}; opened in ${res.setupMs} ms`,
          );
        }
      }
      const baseline = figures(chain, rounds.get(chain)!);
      const subject = figures(sb, rounds.get(sb)!);
      const flaggedBaseline = figures(flagged, rounds.get(flagged)!);
      return {
        sessions: opts.sessions,
        windowMs: opts.windowMs,
        baseline,
        subject,
        ratio: round(subject.aggregateMBps / baseline.aggregateMBps, 3),
        flaggedBaseline,
        flaggedRatio: round(subject.aggregateMBps / flaggedBaseline.aggregateMBps, 3),
      };
    } finally {
      sink.stop();
    }
  } finally {
    service.child.kill('SIGTERM');
  }
}
