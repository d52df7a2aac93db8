/**
 * A real cluster for multi-process tests: a primary and members, each its own `switchboard server`
 * process on its own 127.0.N.x address (one port for all, as in production), plus load generators,
 * clients and controls. Each test file uses its own 127.0.N.0/24, so files can run in parallel.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ControlClient } from '../../src/control/controlClient.js';
import type { ClientInfo, ServerInfo } from '../../src/protocol/messages.js';
import { ConfigStore } from '../../src/store/configStore.js';
import { Proc, runCli, tempDir, waitFor, type CliResult } from './harness.js';
import { stopAll } from './sb.js';
import { sleep, freePortOn } from './ports.js';

export { sleep, freePortOn };

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Resident set size of a process, from /proc, in bytes. */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for process ${pid}`);
  return Number(m[1]) * 1024;
}

/** The config version in a data directory, read without disturbing the server that owns it. */
export function storeVersion(data: string): number {
  const db = new Database(join(data, 'switchboard.db'), { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare("SELECT value FROM meta WHERE name = 'config_version'").get() as
      { value: string } | undefined;
    return Number(row?.value ?? 0);
  } finally {
    db.close();
  }
}

export interface ServerNode {
  name: string;
  host: string;
  address: string;
  data: string;
  proc?: Proc;
}

export interface MemberSpec {
  weight?: number;
  secondary?: boolean;
  disabled?: boolean;
  /** Not a row of the primary's server table (default: it is). */
  notInTable?: boolean;
}

export interface ClusterOptions {
  /** The third octet: this cluster's servers are 127.0.<subnet>.1 (primary), .2, .3, ... */
  subnet: number;
  members: MemberSpec[];
  primaryWeight?: number;
  /** Seconds; short, so dead clients are found quickly. */
  heartbeat?: number;
  /** Members to start with the primary (default: all). */
  startMembers?: number[];
}

export interface BenchStatus {
  msg: string;
  count: number;
  connected: number;
  byServer: Record<string, number>;
  /** Clients that lost their server and came back: how many, and how many attempts each took. */
  returns: { count: number; attempts?: { min: number; max: number }; reasons: Record<string, number> };
}

/** `switchboard bench clients`: many real clients in one process, reporting where they are. */
export class Bench {
  constructor(
    readonly proc: Proc,
    readonly count: number,
    readonly prefix: string,
  ) {}

  statuses(): BenchStatus[] {
    return this.proc.lines.filter(
      (l) => l.msg === 'bench clients' || l.msg === 'all connected',
    ) as unknown as BenchStatus[];
  }

  latest(): BenchStatus | undefined {
    return this.statuses().at(-1);
  }

  /** Waits for a status line printed from now on that satisfies `check`. */
  async waitStatus(check: (s: BenchStatus) => boolean, what: string, timeoutMs = 60_000): Promise<BenchStatus> {
    const from = this.proc.lines.length;
    const line = await this.proc.waitForLine(
      (l) => (l.msg === 'bench clients' || l.msg === 'all connected') && check(l as unknown as BenchStatus),
      `bench ${this.prefix}: ${what}`,
      timeoutMs,
      from,
    );
    return line as unknown as BenchStatus;
  }

  waitAllConnected(timeoutMs = 60_000): Promise<BenchStatus> {
    return this.waitStatus((s) => s.connected === this.count, `all ${this.count} connected`, timeoutMs);
  }
}

/**
 * Every process a cluster started, so none outlives the test file: after hooks stop them in order,
 * and if the file dies first (a timeout, an interrupt) they are killed on the way out.
 */
const live = new Set<Proc>();
process.once('exit', () => {
  for (const p of live) p.child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const p of live) p.child.kill('SIGKILL');
    process.exit(130);
  });
}

export const CLUSTER_SECRET = 'test-cluster-secret-0123456789abcdef';
export const KEY_NAME = 'k1';

export class Cluster {
  readonly dir = tempDir('sb-cluster-');
  readonly secretFile: string;
  readonly key = `key-${Math.random().toString(36).slice(2)}-value`;
  readonly primary: ServerNode;
  readonly members: ServerNode[];
  private readonly procs: Proc[] = [];
  private sdk: ControlClient | undefined;

  private constructor(
    readonly port: number,
    readonly options: ClusterOptions,
  ) {
    this.secretFile = join(this.dir.path, 'cluster.secret');
    writeFileSync(this.secretFile, `${CLUSTER_SECRET}\n`, { mode: 0o600 });
    const node = (name: string, i: number): ServerNode => {
      const host = `127.0.${options.subnet}.${i}`;
      return { name, host, address: `${host}:${port}`, data: join(this.dir.path, name) };
    };
    this.primary = node('primary', 1);
    this.members = options.members.map((_, i) => node(`member${i + 1}`, i + 2));
  }

  /** Writes the primary's configuration, then starts the primary and the members. */
  static async start(options: ClusterOptions): Promise<Cluster> {
    const hosts = [1, ...options.members.map((_, i) => i + 2)].map((i) => `127.0.${options.subnet}.${i}`);
    const cluster = new Cluster(await freePortOn(hosts), options);
    const store = ConfigStore.open(cluster.primary.data);
    try {
      store.addKey(KEY_NAME, cluster.key);
      store.setSetting('heartbeat', String(options.heartbeat ?? 1));
      if (options.primaryWeight !== undefined) store.setSetting('primary-weight', String(options.primaryWeight));
      options.members.forEach((spec, i) => {
        if (spec.notInTable) return;
        store.addServer({
          address: cluster.members[i]!.address,
          weight: spec.weight ?? 1000,
          enabled: !spec.disabled,
          secondary: Boolean(spec.secondary),
        });
      });
    } finally {
      store.close();
    }
    try {
      await cluster.startPrimary();
      const which = options.startMembers ?? options.members.map((_, i) => i);
      await Promise.all(which.map((i) => cluster.startMember(i)));
    } catch (err) {
      await cluster.close();
      throw err;
    }
    return cluster;
  }

  track<T extends Proc>(proc: T): T {
    this.procs.push(proc);
    live.add(proc);
    void proc.exited.then(() => live.delete(proc));
    return proc;
  }

  async startPrimary(extra: string[] = []): Promise<ServerNode> {
    const p = this.primary;
    p.proc = this.track(
      new Proc([
        'server',
        '--data',
        p.data,
        '--role',
        'primary',
        '--listen',
        p.address,
        '--cluster-secret-file',
        this.secretFile,
        ...extra,
      ]),
    );
    // Generous: on a loaded machine a server can take many seconds to open its store and listen.
    await p.proc.waitForMsg('listening', 60_000);
    return p;
  }

  /**
   * Starts member i. With `waitLinked` (the default) it returns once the primary lists it as up
   * and its store holds the primary's config version.
   */
  async startMember(
    i: number,
    opts: { secretFile?: string; waitLinked?: boolean; extra?: string[] } = {},
  ): Promise<ServerNode> {
    const m = this.members[i]!;
    m.proc = this.track(
      new Proc([
        'server',
        '--data',
        m.data,
        '--role',
        'member',
        '--primary',
        this.primary.address,
        '--listen',
        m.address,
        '--cluster-secret-file',
        opts.secretFile ?? this.secretFile,
        ...(opts.extra ?? []),
      ]),
    );
    await m.proc.waitForMsg('listening', 60_000);
    if (opts.waitLinked ?? true) await this.waitMemberLinked(m);
    return m;
  }

  async waitMemberLinked(m: ServerNode, timeoutMs = 60_000): Promise<void> {
    await waitFor(
      async () => (await this.serversNow()).find((s) => s.address === m.address)?.status === 'up',
      `${m.address} up on the primary`,
      timeoutMs,
      100,
    );
    await this.waitReplicated(m, timeoutMs);
  }

  /** Waits until the member's own store holds the primary's current config version. */
  async waitReplicated(m: ServerNode, timeoutMs = 30_000): Promise<number> {
    const want = storeVersion(this.primary.data);
    return waitFor(
      () => (storeVersion(m.data) >= want ? storeVersion(m.data) : false),
      `${m.name} at config version ${want}`,
      timeoutMs,
      50,
    );
  }

  /** Stops a server: SIGTERM (graceful) or SIGKILL (a crash). */
  async stopNode(node: ServerNode, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const proc = node.proc;
    if (!proc) return;
    node.proc = undefined;
    if (node === this.primary) this.dropSdk();
    proc.child.kill('SIGCONT');
    await proc.stop(signal);
  }

  // ---- config, control ----------------------------------------------------------------------
  config(args: string[], data = this.primary.data, env?: NodeJS.ProcessEnv): Promise<CliResult> {
    return runCli(['config', '--data', data, ...args], { env });
  }

  async configOk(args: string[], data = this.primary.data, env?: NodeJS.ProcessEnv): Promise<string> {
    const r = await this.config(args, data, env);
    if (r.code !== 0) throw new Error(`config ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  }

  control(
    args: string[],
    opts: { gateway?: string; key?: string; input?: string | Buffer; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
  ): Promise<CliResult> {
    return runCli(
      ['control', '--gateway', opts.gateway ?? this.primary.address, '--key', opts.key ?? this.key, ...args],
      { input: opts.input, env: opts.env, timeoutMs: opts.timeoutMs },
    );
  }

  async controlJson<T>(args: string[], opts: { key?: string } = {}): Promise<T> {
    const r = await this.control([...args, '--json'], opts);
    if (r.code !== 0) throw new Error(`control ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  }

  /** `control servers --json`, the user-facing way. */
  servers(): Promise<ServerInfo[]> {
    return this.controlJson<ServerInfo[]>(['servers']);
  }

  /** `control browse --json`, the user-facing way. */
  browse(key?: string): Promise<ClientInfo[]> {
    return this.controlJson<ClientInfo[]>(['browse'], { key });
  }

  private dropSdk(): void {
    this.sdk?.close();
    this.sdk = undefined;
  }

  /** One SDK connection kept open for quick polling (a CLI process per poll would be slow). */
  async withSdk<T>(fn: (c: ControlClient) => Promise<T>): Promise<T> {
    this.sdk ??= await ControlClient.connect({ gateway: this.primary.address, key: this.key, dial: { tls: false } });
    try {
      return await fn(this.sdk);
    } catch (err) {
      this.dropSdk();
      throw err;
    }
  }

  serversNow(): Promise<ServerInfo[]> {
    return this.withSdk((c) => c.servers()).catch(() => [] as ServerInfo[]);
  }

  /** Polls the primary until its server list satisfies `check`; returns that list. */
  waitServers(check: (servers: ServerInfo[]) => boolean, what: string, timeoutMs = 30_000): Promise<ServerInfo[]> {
    return waitFor(
      async () => {
        const s = await this.serversNow();
        return s.length > 0 && check(s) ? s : false;
      },
      what,
      timeoutMs,
      150,
    );
  }

  // ---- clients -------------------------------------------------------------------------------
  bench(count: number, prefix: string, extra: string[] = [], opts: { gateway?: string; key?: string } = {}): Bench {
    const proc = this.track(
      new Proc([
        'bench',
        'clients',
        '--gateway',
        opts.gateway ?? this.primary.address,
        '--key',
        opts.key ?? this.key,
        '--count',
        String(count),
        '--prefix',
        prefix,
        '--interval',
        '0.5',
        ...extra,
      ]),
    );
    return new Bench(proc, count, prefix);
  }

  /** A `switchboard client` process; resolves once it is connected. */
  async client(
    name: string,
    extra: string[] = [],
    opts: { gateway?: string; key?: string; wait?: boolean } = {},
  ): Promise<Proc> {
    const proc = this.track(
      new Proc([
        'client',
        '--gateway',
        opts.gateway ?? this.primary.address,
        '--key',
        opts.key ?? this.key,
        '--name',
        name,
        '--state',
        join(this.dir.path, `client-${name}`),
        ...extra,
      ]),
    );
    if (opts.wait ?? true) await proc.waitForLine((l) => l.status === 'connected', `client ${name} connected`, 60_000);
    return proc;
  }

  /** Stops every process this cluster started (SIGCONT first, in case one was stopped), then removes its files. */
  async close(): Promise<void> {
    this.dropSdk();
    await stopAll(this.procs);
    this.dir.remove();
  }
}

/** Each server's share of all clients, in percent. */
export function shares(servers: ServerInfo[]): Map<string, number> {
  const total = servers.reduce((n, s) => n + s.clients, 0);
  return new Map(servers.map((s) => [s.address, (100 * s.clients) / total]));
}

/** Each enabled server's weight share, in percent. */
export function weightShares(servers: ServerInfo[]): Map<string, number> {
  const live = servers.filter((s) => s.enabled);
  const total = live.reduce((n, s) => n + s.weight, 0);
  return new Map(live.map((s) => [s.address, (100 * s.weight) / total]));
}
