import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';
import { join } from 'node:path';
import { ControlClient } from '../src/control/controlClient.js';
import { plainDial } from '../src/net/dial.js';
import { runCli, tempDir, waitFor } from '../test/helpers/harness.js';
import { cpuMs } from './cpuTime.js';
import { shippedNodeFlags, SwitchboardProcess } from './processes.js';
import { generatorAddress } from './sourceAddresses.js';

/**
 * `BENCH_CPU_PROF=DIR` profiles every server (node --cpu-prof into DIR); the servers left are then
 * stopped with SIGTERM, so that each writes its profile on the way out.
 */
const PROFILE_DIR = process.env.BENCH_CPU_PROF;
/**
 * `BENCH_CPU_PROF_GENERATORS=DIR` profiles the client generators the same way (they exit on
 * SIGTERM), sampling every 5 ms rather than every 1: twelve profiled generators slow a run down.
 */
const GENERATOR_PROFILE_DIR = process.env.BENCH_CPU_PROF_GENERATORS;
const profiled = (dir: string | undefined, intervalUs = 1000) =>
  dir
    ? [...shippedNodeFlags(), '--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-interval', String(intervalUs)]
    : undefined;
/**
 * `FLEET_GENERATOR_NICE=N` runs the client generators at that niceness (1-19): the servers' CPU is
 * then theirs first, as it is when the clients run on machines of their own. Off by default: the
 * figures then say what one shared 2-core machine does.
 */
const GENERATOR_NICE = Number(process.env.FLEET_GENERATOR_NICE ?? 0);

/**
 * A real cluster for the failover and fleet benchmarks: a primary, a secondary and members as
 * `switchboard server` processes on the given addresses, fleets of real clients from `bench
 * clients` processes, and the watch after a kill -9 of the primary. Every process it starts is
 * killed by `stop()` (and by processes.ts's stopAll at the latest).
 */

export interface BenchClusterOptions {
  /** The primary first, the secondary second, then the members. */
  servers: readonly string[];
  secret: string;
  key: string;
  /** Settings of the primary's store (replicated to the members), e.g. admission-rate. */
  settings?: Record<string, string>;
  tempPrefix: string;
}

/** How the cluster came back after the kill: what a control browsing `gateway` saw. */
export interface Recovery {
  /** kill -9 → the browse lists every client; null if not within the window. */
  allBackMs: number | null;
  /**
   * kill -9 → every other server is linked to the secondary (a client listed from the secondary's
   * copy of the directory can have a session once its member is linked); null if not in the window.
   */
  membersLinkedMs: number | null;
  /** Browsable when `targetMs` had passed. */
  atTarget: number;
  /** Browsable when the watch ended (all, or when the window closed). */
  atEnd: number;
  /** [ms after the kill, browsable] each time the count changed: the shape of the recovery. */
  timeline: [number, number][];
  /** The same moments, the browsable clients by the server that holds them: who came back when. */
  byServer: [number, Record<string, number>][];
  /** Connected by the generators' own account when `targetMs` had passed, and at the end: browsable or not. */
  connectedAtTarget: number;
  connectedAtEnd: number;
  /** CPU (ms of one core) from the kill until `targetMs` had passed: the servers left, the generators. */
  cpuToTarget: { servers: number; generators: number };
  /** Browses that failed (refused while not acting, timed out...), and the last error. */
  browseErrors: number;
  lastBrowseError: string | null;
}

export class BenchCluster {
  readonly primary: string;
  readonly secondary: string;
  private readonly dir;
  private readonly procs: SwitchboardProcess[] = [];
  private servers: SwitchboardProcess[] = [];
  private readonly generators: SwitchboardProcess[] = [];
  private killedAt = 0;
  private cpuAtKill = { servers: 0, generators: 0 };

  constructor(private readonly options: BenchClusterOptions) {
    [this.primary, this.secondary] = [options.servers[0]!, options.servers[1]!];
    this.dir = tempDir(options.tempPrefix);
  }

  private spawn(args: string[], nodeFlags = shippedNodeFlags()): SwitchboardProcess {
    const p = new SwitchboardProcess(args, nodeFlags, { SWITCHBOARD_CLUSTER_SECRET: this.options.secret });
    this.procs.push(p);
    return p;
  }

  /** The server processes, primary first (for their pids: CPU, RSS). */
  get serverProcesses(): readonly SwitchboardProcess[] {
    return this.servers;
  }

  /** Configures the primary, starts every server and waits until each member is linked to the primary. */
  async start(): Promise<void> {
    const { servers, key } = this.options;
    // A generator's thousands of clients share its one address (generatorAddress), where a fleet's
    // machines have one each: the per-address limit is lifted, as for a fleet behind one NAT.
    const settings = { 'max-connections-per-address': '1000000', ...this.options.settings };
    const p = join(this.dir.path, 'p');
    await cli(['config', '--data', p, '--create', 'key', 'add', 'k', '--value', key]);
    for (const [name, value] of Object.entries(settings)) await cli(['config', '--data', p, 'set', name, value]);
    await cli(['config', '--data', p, 'server', 'add', this.secondary, '--weight', '1000', '--secondary']);
    for (const m of servers.slice(2)) await cli(['config', '--data', p, 'server', 'add', m, '--weight', '1000']);
    this.servers = servers.map((address, i) =>
      this.spawn(
        [
          'server',
          '--data',
          i === 0 ? p : join(this.dir.path, `s${i}`),
          ...(i === 0 ? ['--role', 'primary'] : ['--role', 'member', '--primary', this.primary]),
          '--listen',
          address,
          '--log-level',
          'warn',
        ],
        profiled(PROFILE_DIR),
      ),
    );
    // At warn level the servers log nothing when they are up: ask the primary until every member is.
    await waitFor(
      async () => {
        const rows = await this.withControl(this.primary, (c) => c.servers()).catch(() => []);
        return rows.filter((s) => s.status === 'up' && s.address !== this.primary).length === servers.length - 1;
      },
      'every member linked to the primary',
      60_000,
      200,
    );
  }

  /**
   * `total` clients, one generator process of at most `perProcess` after another, each once its
   * clients are in: thousands dialling the primary within a second is a storm benchmark of its own
   * (on a loaded 2-core machine every handshake timed out). Rejects with the generator's last
   * status (how many connected, why the others waited) if one does not get there in `timeoutMs`.
   */
  async addClients(total: number, perProcess: number, prefix: string, timeoutMs: number): Promise<number> {
    const processes = Math.ceil(total / perProcess);
    for (let i = 0; i < processes; i++) {
      const generator = this.spawn(
        [
          'bench',
          'clients',
          '--gateway',
          this.primary,
          '--secondary',
          this.secondary,
          '--key',
          this.options.key,
          '--count',
          String(Math.min(perProcess, total - i * perProcess)),
          '--prefix',
          `${prefix}${i}`,
          '--interval',
          '1',
          // Each generator its own source address, as each machine of a fleet has its own (why, and
          // what one shared address costs: sourceAddresses.ts).
          '--local-address',
          generatorAddress(this.generators.length),
        ],
        profiled(GENERATOR_PROFILE_DIR, 5000),
      );
      this.generators.push(generator);
      if (GENERATOR_NICE > 0) renice(generator.child.pid!, GENERATOR_NICE);
      await generator
        .waitForLine((l) => l.msg === 'all connected', 'all clients connected', timeoutMs)
        .catch((err: Error) => {
          throw new Error(
            `${err.message.split(';')[0]} (generator ${i + 1}) within ${timeoutMs / 1000} s; its last status: ${JSON.stringify(lastStatus(generator) ?? {})}`,
          );
        });
    }
    return processes;
  }

  async withControl<T>(gateway: string, fn: (c: ControlClient) => Promise<T>): Promise<T> {
    const control = await ControlClient.connect({ gateway, key: this.options.key, dial: plainDial });
    try {
      return await fn(control);
    } finally {
      control.close();
    }
  }

  browseCount(gateway: string): Promise<number> {
    return this.withControl(gateway, async (c) => (await c.browse()).length);
  }

  /** Polls the primary's browse until it lists `total` clients (a member reports arrivals in batches). */
  async waitBrowsable(total: number, timeoutMs: number): Promise<{ ms: number | null; count: number }> {
    const started = Date.now();
    let count = 0;
    while (Date.now() - started < timeoutMs) {
      count = await this.browseCount(this.primary).catch(() => count);
      if (count >= total) return { ms: Date.now() - started, count };
      await new Promise((r) => setTimeout(r, 500));
    }
    return { ms: null, count };
  }

  async killPrimary(): Promise<void> {
    await this.servers[0]!.stop('SIGKILL');
    this.killedAt = Date.now();
    this.cpuAtKill = this.cpuNow();
  }

  /**
   * After the kill: asks `gateway` (the secondary) for its server table, whose client counts are its
   * directory's (what a browse lists), until they add up to `total` or `windowMs` has passed; then
   * one full browse confirms it. The table and not a full browse every 200 ms: a browse of 60,000
   * costs the server most of a second of CPU, and the watch must not be the load it measures (an
   * operator's console asks for a page of 500). A failed ask keeps the last count, but is counted:
   * "stuck at N" must not hide "no answer".
   */
  async watchRecovery(gateway: string, total: number, windowMs: number, targetMs: number): Promise<Recovery> {
    const r: Recovery = {
      byServer: [],
      connectedAtTarget: 0,
      connectedAtEnd: 0,
      cpuToTarget: { servers: 0, generators: 0 },
      allBackMs: null,
      membersLinkedMs: null,
      atTarget: 0,
      atEnd: 0,
      timeline: [],
      browseErrors: 0,
      lastBrowseError: null,
    };
    const failed = (err: Error) => {
      r.browseErrors++;
      r.lastBrowseError = err.message;
      return undefined;
    };
    // The figures "at 10 s" are taken by a timer: an ask of a swamped secondary may take longer
    // than that, and the loop's last sample before the target would then be seconds early.
    const atTarget = setTimeout(
      () => {
        r.atTarget = r.atEnd;
        r.connectedAtTarget = this.connectedNow();
        r.cpuToTarget = this.cpuSinceKill();
      },
      Math.max(0, this.killedAt + targetMs - Date.now()),
    );
    // One control connection for the whole watch, as an operator's open console has: a new one
    // for each ask waited in the secondary's accept queue behind the returning clients, and the
    // watch went blind for 30 s. Dialled again only when it fails.
    let control: ControlClient | undefined;
    const ask = async <T>(fn: (c: ControlClient) => Promise<T>): Promise<T | undefined> => {
      try {
        control ??= await ControlClient.connect({ gateway, key: this.options.key, dial: plainDial });
        return await fn(control);
      } catch (err) {
        control?.close();
        control = undefined;
        return failed(err as Error);
      }
    };
    while (Date.now() - this.killedAt < windowMs) {
      const rows = await ask((c) => c.servers());
      let now = rows?.reduce((sum, row) => sum + row.clients, 0) ?? r.atEnd;
      // The table counts entries; the browse is what an operator sees: it has the last word.
      if (now >= total) now = (await ask(async (c) => (await c.browse()).length)) ?? r.atEnd;
      const elapsed = Date.now() - this.killedAt;
      if (now !== r.atEnd && rows) {
        r.timeline.push([elapsed, now]);
        r.byServer.push([
          elapsed,
          Object.fromEntries(rows.filter((row) => row.clients).map((row) => [row.address, row.clients])),
        ]);
      }
      r.atEnd = now;
      r.connectedAtEnd = this.connectedNow();
      if (elapsed <= targetMs) r.atTarget = now;
      // A member answers with no rows: nobody is linked to a secondary that is not acting yet.
      const members = rows?.filter((row) => row.address !== this.primary && row.address !== gateway) ?? [];
      if (r.membersLinkedMs === null && members.length > 0 && members.every((row) => row.status === 'up'))
        r.membersLinkedMs = elapsed;
      if (now >= total) r.allBackMs ??= elapsed;
      if (r.allBackMs !== null && r.membersLinkedMs !== null) break;
      await new Promise((res) => setTimeout(res, 200));
    }
    control?.close();
    if (Date.now() - this.killedAt < targetMs) {
      // All back before the target: what was there then is what is there now.
      clearTimeout(atTarget);
      r.connectedAtTarget = r.connectedAtEnd;
      r.cpuToTarget = this.cpuSinceKill();
    }
    return r;
  }

  /** Clients connected now by the generators' own account (their last status lines, each at most a second old). */
  connectedNow(): number {
    return this.generators.reduce((sum, g) => sum + Number(lastStatus(g)?.connected ?? 0), 0);
  }

  /** Why the generators' clients that are not connected wait, summed over the generators (their last status lines). */
  waitingReasons(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const g of this.generators)
      for (const [reason, n] of Object.entries((lastStatus(g)?.waiting ?? {}) as Record<string, number>))
        out[reason] = (out[reason] ?? 0) + n;
    return out;
  }

  /** Each generator's account of its clients that lost their server and came back (bench clients' `returns`). */
  generatorReturns(): unknown[] {
    return this.generators.map((g) => lastStatus(g)?.returns);
  }

  /** Warnings the surviving servers logged since the kill, with their time after it: the failover's story. */
  warningsSinceKill(): string[] {
    const lines: string[] = [];
    for (const [i, s] of this.servers.entries())
      for (const l of s.lines)
        if (typeof l.time === 'string' && Date.parse(l.time) >= this.killedAt - 1000)
          lines.push(`${this.options.servers[i]} +${Date.parse(l.time) - this.killedAt} ms: ${String(l.msg)}${why(l)}`);
    return lines;
  }

  /** CPU used so far, in ms of one core: the servers (killed ones count 0) and the generators together. */
  cpuNow(): { servers: number; generators: number } {
    const sum = (ps: readonly SwitchboardProcess[]) => ps.reduce((t, p) => t + (cpuMs(p.child.pid!) ?? 0), 0);
    return { servers: sum(this.servers), generators: sum(this.generators) };
  }

  private cpuSinceKill(): { servers: number; generators: number } {
    const cpu = this.cpuNow();
    return { servers: cpu.servers - this.cpuAtKill.servers, generators: cpu.generators - this.cpuAtKill.generators };
  }

  async stop(): Promise<void> {
    if (PROFILE_DIR) await Promise.all(this.servers.map((s) => s.stop('SIGTERM')));
    if (GENERATOR_PROFILE_DIR) await Promise.all(this.generators.map((g) => g.stop('SIGTERM')));
    await Promise.all(this.procs.map((proc) => proc.stop('SIGKILL')));
    this.dir.remove();
  }
}

/** The fields of a log line that say why a link or a connection ended. */
function why(line: Record<string, unknown>): string {
  const fields = ['member', 'closeCode', 'reason', 'clientsDropped', 'reported', 'unlinkedS'].filter(
    (f) => line[f] !== undefined,
  );
  return fields.length ? ` (${fields.map((f) => `${f} ${String(line[f])}`).join(', ')})` : '';
}

function lastStatus(generator: SwitchboardProcess): Record<string, unknown> | undefined {
  return generator.lines.filter((l) => l.msg === 'bench clients').at(-1);
}

async function cli(args: string[]): Promise<void> {
  const result = await runCli(args, { timeoutMs: 60_000 });
  if (result.code !== 0) throw new Error(`${args.join(' ')}: ${result.stderr}`);
}

/** Linux's niceness is a thread's: every thread of the process (V8's and libuv's started already). */
function renice(pid: number, nice: number): void {
  for (const tid of readdirSync(`/proc/${pid}/task`)) setPriority(Number(tid), nice);
}
