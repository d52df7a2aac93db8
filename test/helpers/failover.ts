/**
 * A real cluster for the failover tests: a primary, a secondary and plain members, each its own
 * `switchboard server` process on its own loopback address (the same port, so that a server killed
 * with -9 comes back at the address the others know). Processes are tracked and stopped by pid.
 */
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { ControlClient } from '../../src/control/controlClient.js';
import type { ClientInfo, ServerInfo } from '../../src/protocol/messages.js';
import { Proc, runCli, tempDir, type CliResult } from './harness.js';
import { sleep } from './ports.js';

export { sleep };

export const SECRET = '0123456789abcdef0123-failover';
export const KEY = 'keyvalue-failover-0123456789';
export const PORT = 29443;
const SERVER_ENV = { SWITCHBOARD_CLUSTER_SECRET: SECRET };

export interface Health {
  role: string;
  acting: boolean;
  epoch: number;
}

export interface Node {
  name: string;
  address: string;
  data: string;
  role: 'primary' | 'member';
  proc?: Proc;
}

export interface ClusterOptions {
  /** Three octets of a 127.x.y.0/24 no other test uses, e.g. "127.0.51". */
  subnet: string;
  /** Plain members besides the secondary. */
  members?: number;
  heartbeat?: number;
}

export class FailoverCluster {
  readonly dir = tempDir('sb-failover-');
  readonly primary: Node;
  readonly secondary: Node;
  readonly members: Node[];
  /** Every long-running process started, servers and others, for the after hook. */
  private readonly procs: Proc[] = [];

  constructor(private readonly options: ClusterOptions) {
    const node = (name: string, host: number, role: Node['role']): Node => ({
      name,
      address: `${options.subnet}.${host}:${PORT}`,
      data: join(this.dir.path, name),
      role,
    });
    this.primary = node('p', 11, 'primary');
    this.secondary = node('s', 12, 'member');
    this.members = Array.from({ length: options.members ?? 1 }, (_, i) => node(`m${i + 1}`, 13 + i, 'member'));
  }

  get servers(): Node[] {
    return [this.primary, this.secondary, ...this.members];
  }

  /** The primary's store: the key, a low heartbeat, and the server table. */
  configure(): Promise<void> {
    return configurePrimary(
      this.primary.data,
      this.secondary.address,
      this.members.map((m) => m.address),
      this.options.heartbeat ?? 1,
    );
  }

  /** Starts (or restarts) one server and waits until it listens. */
  async start(node: Node, extra: string[] = []): Promise<Proc> {
    const args = [
      'server',
      '--data',
      node.data,
      '--role',
      node.role,
      '--listen',
      node.address,
      ...(node.role === 'member' ? ['--primary', this.primary.address] : []),
      ...extra,
    ];
    const proc = this.spawn(args, SERVER_ENV);
    node.proc = proc;
    // Generous: a server with ACME flags gets its certificate before it listens, and pebble may keep
    // an order pending for 5 to 10 s.
    await proc.waitForMsg('listening', 60_000);
    return proc;
  }

  /** Starts the primary, then every member, and waits until each member is linked to the primary. */
  async startAll(): Promise<void> {
    await this.start(this.primary);
    await Promise.all(
      [this.secondary, ...this.members].map(async (m) => {
        await this.start(m);
        await this.linkedTo(m, this.primary.address);
      }),
    );
  }

  /** Waits for a member's log line saying it linked to `acting` (from log line `from` on). */
  linkedTo(node: Node, acting: string, from = 0, timeoutMs = 30_000): Promise<Record<string, unknown>> {
    return node.proc!.waitForLine(
      (l) => l.msg === 'linked to the acting primary' && l.acting === acting,
      `${node.name} linked to ${acting}`,
      timeoutMs,
      from,
    );
  }

  async kill9(node: Node): Promise<void> {
    const proc = node.proc!;
    if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
    await proc.exited;
  }

  /** A tracked long-running `switchboard ...` process. */
  spawn(args: string[], env: NodeJS.ProcessEnv = {}): Proc {
    const proc = new Proc(args, env);
    this.procs.push(proc);
    return proc;
  }

  /** The tracked processes of one command (`bench`, `client`, `server`...), oldest first. */
  procsOf(command: string): Proc[] {
    return this.procs.filter((p) => p.args[0] === command);
  }

  /** `bench clients` against primary and secondary; resolves once every client is connected. */
  async bench(count: number, prefix: string, extra: string[] = []): Promise<Proc> {
    const proc = this.spawn([
      'bench',
      'clients',
      '--gateway',
      this.primary.address,
      '--secondary',
      this.secondary.address,
      '--key',
      KEY,
      '--count',
      String(count),
      '--prefix',
      prefix,
      '--interval',
      '0.2',
      ...extra,
    ]);
    await proc.waitForLine((l) => l.msg === 'all connected', `all ${count} ${prefix} clients connected`, 60_000);
    return proc;
  }

  /** One real `switchboard client` that allows exec and a forward to `ports`. */
  async client(name: string, ports: number[] = []): Promise<Proc> {
    const args = [
      'client',
      '--gateway',
      this.primary.address,
      '--secondary',
      this.secondary.address,
      '--key',
      KEY,
      '--name',
      name,
      '--state',
      join(this.dir.path, `client-${name}`),
      '--allow-exec',
    ];
    if (ports.length) args.push('--allow-forward', ports.join(','));
    const proc = this.spawn(args);
    await proc.waitForLine((l) => l.status === 'connected', `client ${name} connected`, 30_000);
    return proc;
  }

  /** `switchboard control ... CMD` with --gateway primary --secondary secondary (or the given pair; null: none). */
  control(
    args: string[],
    gateway = this.primary.address,
    secondary: string | null = this.secondary.address,
  ): Promise<CliResult> {
    return runCli(
      ['control', '--gateway', gateway, ...(secondary ? ['--secondary', secondary] : []), '--key', KEY, ...args],
      { timeoutMs: 30_000 },
    );
  }

  async browse(gateway?: string, secondary?: string | null): Promise<ClientInfo[]> {
    const r = await this.control(['browse', '--json'], gateway, secondary);
    if (r.code !== 0) throw new Error(`browse failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as ClientInfo[];
  }

  async serverList(gateway?: string, secondary?: string | null): Promise<ServerInfo[]> {
    const r = await this.control(['servers', '--json'], gateway, secondary);
    if (r.code !== 0) throw new Error(`servers failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as ServerInfo[];
  }

  /** Browse through the control SDK in this process (cheaper than a CLI process for polling). */
  async sdkBrowse(
    gateway = this.primary.address,
    secondary: string | null = this.secondary.address,
    key = KEY,
  ): Promise<ClientInfo[]> {
    const control = await ControlClient.connect({
      gateway,
      secondary: secondary ?? undefined,
      key,
      dial: { tls: false },
    });
    try {
      return await control.browse();
    } finally {
      control.close();
    }
  }

  /** Polls browse (SDK) until `check` accepts the list; returns that list. */
  waitBrowse(
    check: (clients: ClientInfo[]) => boolean,
    what: string,
    timeoutMs = 45_000,
    gateway?: string,
    secondary?: string | null,
  ): Promise<ClientInfo[]> {
    let last = 'nothing yet';
    return waitUntil(
      async () => {
        const clients = await this.sdkBrowse(gateway, secondary).catch((err: Error) => {
          last = err.message;
          return undefined;
        });
        if (clients) last = `${clients.length} clients: ${JSON.stringify(countBy(clients, (c) => c.server))}`;
        return clients && check(clients) ? clients : undefined;
      },
      () => `${what} (last browse: ${last})`,
      timeoutMs,
      300,
    );
  }

  waitHealth(node: Node, check: (h: Health) => boolean, what: string, timeoutMs = 30_000): Promise<Health> {
    return waitUntil(
      async () => {
        const h = await health(node.address);
        return h && check(h) ? h : undefined;
      },
      `${node.name}: ${what}`,
      timeoutMs,
      100,
    );
  }

  /** The replicated configuration as `config --data DIR` shows it (with key values), for comparison. */
  async replicatedConfig(node: Node): Promise<unknown> {
    const show = JSON.parse((await cliOk(['config', '--data', node.data, 'show', '--json'])).stdout) as Record<
      string,
      unknown
    >;
    const keys = JSON.parse((await cliOk(['config', '--data', node.data, 'key', 'list', '--json'])).stdout) as unknown;
    return { ...show, keys };
  }

  async cleanup(): Promise<void> {
    await Promise.all(
      this.procs.map(async (p) => {
        if (p.child.exitCode !== null || p.child.signalCode !== null) return;
        p.child.kill('SIGCONT');
        p.child.kill('SIGKILL');
        await p.exited;
      }),
    );
    this.dir.remove();
  }
}

/** Like harness waitFor, but the failure message may be computed at the end (to show the last state). */
export async function waitUntil<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  what: string | (() => string),
  timeoutMs: number,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await sleep(everyMs);
  }
}

export function countBy<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) out[key(item)] = (out[key(item)] ?? 0) + 1;
  return out;
}

/** A primary's store for a test cluster: the key, a heartbeat, the secondary and the members (weight 1000 each). */
export async function configurePrimary(
  data: string,
  secondary: string,
  members: string[] = [],
  heartbeat = 1,
): Promise<void> {
  await cliOk(['config', '--data', data, '--create', 'key', 'add', 'k1', '--value', KEY]);
  await cliOk(['config', '--data', data, 'set', 'heartbeat', String(heartbeat)]);
  await cliOk(['config', '--data', data, 'server', 'add', secondary, '--weight', '1000', '--secondary']);
  for (const m of members) await cliOk(['config', '--data', data, 'server', 'add', m, '--weight', '1000']);
}

export async function cliOk(args: string[]): Promise<CliResult> {
  const r = await runCli(args, { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`switchboard ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r;
}

export function health(address: string): Promise<Health | undefined> {
  return new Promise((resolve) => {
    const [host, port] = [
      address.slice(0, address.lastIndexOf(':')),
      Number(address.slice(address.lastIndexOf(':') + 1)),
    ];
    const req = http.get({ host, port, path: '/healthz', timeout: 2000, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        try {
          if (res.statusCode !== 200) return resolve(undefined);
          // Only the fields these tests assert on, so that new fields do not break them.
          const { role, acting, epoch } = JSON.parse(body) as Health;
          resolve({ role, acting, epoch });
        } catch {
          resolve(undefined);
        }
      });
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

/** A TCP echo service on the test machine, for forward sessions to reach through a client. */
export async function echoServer(host = '127.0.0.1'): Promise<{ port: number; close(): void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/** Sends `text` over a socket and resolves once it has come back whole. */
export function echoRoundTrip(
  socket: net.Socket | import('node:stream').Duplex,
  text: string,
  timeoutMs = 10_000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const timer = setTimeout(
      () => done(new Error(`echo of ${text.length} bytes timed out (got ${got.length})`)),
      timeoutMs,
    );
    const onData = (d: Buffer) => {
      got += d.toString();
      if (got.length >= text.length) done();
    };
    const onClose = () => done(new Error('the session closed before the echo came back'));
    const done = (err?: Error) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      if (err) reject(err);
      else resolve(got);
    };
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.write(text);
  });
}

export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** The log lines a process wrote since index `from`, with this msg. */
export function linesSince(proc: Proc, from: number, msg: string): Record<string, unknown>[] {
  return proc.lines.slice(from).filter((l) => l.msg === msg);
}
