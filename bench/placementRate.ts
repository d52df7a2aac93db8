import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ControlClient } from '../src/control/controlClient.js';
import { plainDial } from '../src/net/dial.js';
import type { ServerInfo } from '../src/protocol/messages.js';
import { runCli, tempDir, waitFor } from '../test/helpers/harness.js';
import { cpuDelta, cpuSnapshot } from './cpuTime.js';
import { runGenerators } from './generators.js';
import { shippedNodeEnv, shippedNodeFlags, startScript, SwitchboardProcess } from './processes.js';
import { median, round, turn } from './stats.js';

/**
 * Placement rate (issue 7, benchmark 4): clients placed per second through a primary with two
 * members (each client connects to the primary, proves its key, is redirected, connects to the
 * member, proves its key again and is welcomed), against a bare `ws` server's connect rate
 * (connect, its first message, one message round trip), with the same generator
 * (connectGenerator.ts) and the same number of connections in progress at once.
 *
 * A third path, the protocol floor (bareProtocol.ts: a bare 307 and two bare members that check
 * the proofs and the identity signature and nothing else), places the same real clients with no
 * code of ours around the protocol: its rate is the most the placement flow allows here, and
 * Switchboard's rate against it is what our own code costs on top.
 *
 * The primary's own weight is 0, so every client takes the redirect: the whole placement path.
 * The admission rate (a storm guard, 2,000/s by default) and the per-address limit are raised so
 * that the figure is what the servers can do, not the guard's setting. Clients stay connected
 * until the round ends; the paths take turns going first; the median rate of the rounds counts.
 * Generator and servers share this machine's CPUs, so each path's CPU per connection (servers and
 * generator apart) is reported with its rate: the rate is about the CPUs divided by their sum.
 */
const KEY = 'bench-placement-key-0123456789abcdef';
const SECRET = 'bench-placement-secret-0123456789abcdef';
/** Fixed addresses of our own (127.0.91.x), not used by the other benchmarks or the test suite. */
const PRIMARY = '127.0.91.1:29601';
const MEMBERS = ['127.0.91.2:29601', '127.0.91.3:29601'];
const BARE = '127.0.91.9:29609';
const FLOOR_PRIMARY = '127.0.91.5:29605';
const FLOOR_MEMBERS = ['127.0.91.6:29605', '127.0.91.7:29605'];

export interface PlacementOptions {
  clients: number;
  concurrency: number;
  processes: number;
  rounds: number;
  log: (line: string) => void;
}

export interface PlacementFigures {
  path: string;
  /** Median connections per second over the rounds. */
  perSecond: number;
  rounds: number[];
  retries: number[];
  /** Server CPU ms per connection placed (all the path's servers together), median over the rounds. */
  serverCpuMsPerClient: number;
  /** Of which the primary's (the first server of a placement path), median over the rounds. */
  primaryCpuMsPerClient?: number;
  /** Generator CPU ms per connection placed (all its processes), median over the rounds. */
  generatorCpuMsPerClient: number;
}

export interface PlacementResult {
  clients: number;
  concurrency: number;
  members: number;
  baseline: PlacementFigures;
  floor: PlacementFigures;
  subject: PlacementFigures;
  /** subject / baseline */
  ratio: number;
  /** floor / baseline: the most the placement flow allows against the goal's baseline */
  floorRatio: number;
  /** subject / floor: the share of the flow's own rate that Switchboard keeps */
  ratioToFloor: number;
  /** Where the last Switchboard round's clients ended up (address → clients). */
  placedOn: Record<string, number>;
}

async function cli(args: string[]): Promise<void> {
  const r = await runCli(args);
  if (r.code !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
}

async function servers(): Promise<ServerInfo[]> {
  const control = await ControlClient.connect({ gateway: PRIMARY, key: KEY, dial: plainDial });
  try {
    return await control.servers();
  } finally {
    control.close();
  }
}

/** A primary and its members, started as a user would, with the shipped node flags; their pids. */
async function startCluster(dir: string): Promise<number[]> {
  const secretFile = join(dir, 'cluster.secret');
  writeFileSync(secretFile, SECRET + '\n', { mode: 0o600 });
  const p = join(dir, 'primary');
  await cli(['config', '--data', p, '--create', 'key', 'add', 'bench', '--value', KEY]);
  for (const [name, value] of [
    ['primary-weight', '0'],
    ['admission-rate', '1000000'],
    ['max-connections-per-address', '1000000'],
  ]) {
    await cli(['config', '--data', p, 'set', name!, value!]);
  }
  for (const m of MEMBERS) await cli(['config', '--data', p, 'server', 'add', m, '--weight', '1000']);
  const flags = shippedNodeFlags();
  const primary = new SwitchboardProcess(
    ['server', '--data', p, '--role', 'primary', '--listen', PRIMARY, '--cluster-secret-file', secretFile],
    flags,
  );
  await primary.waitForLine((l) => l.msg === 'listening', 'the primary listening');
  const pids = [primary.child.pid!];
  await Promise.all(
    MEMBERS.map(async (m, i) => {
      const member = new SwitchboardProcess(
        [
          'server',
          '--data',
          join(dir, `m${i}`),
          '--role',
          'member',
          '--primary',
          PRIMARY,
          '--listen',
          m,
          '--advertise',
          m,
          '--cluster-secret-file',
          secretFile,
        ],
        flags,
      );
      pids.push(member.child.pid!);
      await member.waitForLine((l) => l.msg === 'listening', `member ${m} listening`);
    }),
  );
  await waitFor(
    async () => {
      const list = await servers().catch(() => []);
      return MEMBERS.every((m) => list.find((s) => s.address === m)?.status === 'up');
    },
    'both members up on the primary',
    30_000,
    250,
  );
  return pids;
}

/** The protocol floor's three processes (bareProtocol.js), its primary first, with the shipped node flags. */
async function startFloor(): Promise<ChildProcess[]> {
  const start = (listen: string, extra: string[]) =>
    startScript('bareProtocol.js', ['--listen', listen, '--key', KEY, ...extra], shippedNodeFlags(), shippedNodeEnv());
  const started = await Promise.all([
    start(FLOOR_PRIMARY, ['--redirect', FLOOR_MEMBERS.join(',')]),
    ...FLOOR_MEMBERS.map((m) => start(m, [])),
  ]);
  return started.map((s) => s.child);
}

export async function runPlacementRate(opts: PlacementOptions): Promise<PlacementResult> {
  const dir = tempDir('sb-bench-placement-');
  try {
    const clusterPids = await startCluster(dir.path);
    const bare = await startScript('bareWs.js', ['--listen', BARE], shippedNodeFlags(), shippedNodeEnv());
    const floor = await startFloor();
    const paths = [
      { name: 'bare ws', kind: 'ws' as const, target: BARE, pids: [bare.child.pid!] },
      {
        name: 'protocol floor (bare 307 + 2 bare members)',
        kind: 'switchboard' as const,
        target: FLOOR_PRIMARY,
        pids: floor.map((c) => c.pid!),
      },
      { name: 'switchboard (primary + 2 members)', kind: 'switchboard' as const, target: PRIMARY, pids: clusterPids },
    ];
    /** What each round of a path measured, per connection placed. */
    interface Round {
      perSecond: number;
      retries: number;
      serverCpuMs: number;
      primaryCpuMs: number;
      generatorCpuMs: number;
    }
    const measured = new Map(paths.map((p) => [p.name, [] as Round[]]));
    let placedOn: Record<string, number> = {};
    try {
      for (let r = 0; r < opts.rounds; r++) {
        for (const path of turn(paths, r)) {
          const cpuBefore = cpuSnapshot(path.pids);
          const run = await runGenerators({
            kind: path.kind,
            target: path.target,
            key: KEY,
            count: opts.clients,
            processes: opts.processes,
            concurrency: opts.concurrency,
            prefix: `place${r}-`,
          });
          const cpuMs = cpuDelta(cpuBefore, cpuSnapshot(path.pids));
          if (path.target === PRIMARY) {
            // The primary hears of each client from its member shortly after the welcome.
            placedOn = Object.fromEntries((await servers()).map((s) => [s.address, s.clients]));
          }
          await run.stop();
          const thisRound: Round = {
            perSecond: run.perSecond,
            retries: run.retries,
            serverCpuMs: cpuMs ? cpuMs.reduce((a, b) => a + b, 0) / opts.clients : NaN,
            primaryCpuMs: cpuMs ? cpuMs[0]! / opts.clients : NaN,
            generatorCpuMs: run.cpuMs / opts.clients,
          };
          measured.get(path.name)!.push(thisRound);
          opts.log(
            `  #${r + 1} ${path.name}: ${opts.clients} in ${run.ms} ms = ${run.perSecond.toFixed(0)}/s (${run.retries} retries), CPU ms per client: servers ${thisRound.serverCpuMs.toFixed(2)}, generator ${thisRound.generatorCpuMs.toFixed(2)}${path.target === PRIMARY ? `; placed on ${JSON.stringify(placedOn)}` : ''}`,
          );
          // Let the servers see the last round's clients go before the next round: Switchboard's
          // until the primary lists none (a member logs and reports each one gone, which must not
          // count in the next round's CPU), the bare ones for a fixed pause.
          await new Promise((res) => setTimeout(res, 3000));
          if (path.target === PRIMARY)
            await waitFor(
              async () => (await servers()).every((s) => s.clients === 0),
              "the last round's clients gone from the primary",
              60_000,
              250,
            );
        }
      }
    } finally {
      bare.child.kill('SIGKILL');
      for (const child of floor) child.kill('SIGKILL');
    }
    const fig = (name: string, placing: boolean): PlacementFigures => {
      const rounds = measured.get(name)!;
      const mid = (field: keyof Round, digits: number) => round(median(rounds.map((x) => x[field])), digits);
      return {
        path: name,
        perSecond: mid('perSecond', 0),
        rounds: rounds.map((x) => round(x.perSecond, 0)),
        retries: rounds.map((x) => x.retries),
        serverCpuMsPerClient: mid('serverCpuMs', 2),
        ...(placing ? { primaryCpuMsPerClient: mid('primaryCpuMs', 2) } : {}),
        generatorCpuMsPerClient: mid('generatorCpuMs', 2),
      };
    };
    const baseline = fig(paths[0]!.name, false);
    const floorFigures = fig(paths[1]!.name, true);
    const subject = fig(paths[2]!.name, true);
    return {
      clients: opts.clients,
      concurrency: opts.concurrency,
      members: MEMBERS.length,
      baseline,
      floor: floorFigures,
      subject,
      ratio: round(subject.perSecond / baseline.perSecond, 3),
      floorRatio: round(floorFigures.perSecond / baseline.perSecond, 3),
      ratioToFloor: round(subject.perSecond / floorFigures.perSecond, 3),
      placedOn,
    };
  } finally {
    dir.remove();
  }
}
