import net from 'node:net';
import { Command } from 'commander';
import { ClientAgent } from '../client/agent.js';
import { Backoff } from '../net/backoff.js';
import { newIdentity } from '../client/identity.js';
import { addDialFlags, dialOptions, gatewayAddress, parsePorts, type DialFlags } from './common.js';

interface BenchClientFlags extends DialFlags {
  gateway: string;
  secondary?: string;
  key: string;
  count: string;
  prefix: string;
  allowForward?: string;
  allowExec?: boolean;
  interval: string;
  ramp: string;
  localAddress?: string;
}

/** Many real clients in one process: each its own id, socket, hello, heartbeat and reconnect. */
export function benchCommand(_env: NodeJS.ProcessEnv): Command {
  const bench = new Command('bench').description('load generators');
  addDialFlags(
    bench
      .command('clients')
      .description('hold N real clients connected, printing a JSON status line every few seconds')
      .requiredOption('--gateway <host:port>', 'the primary (or standalone) server')
      .option('--secondary <host:port>', 'the secondary server')
      .requiredOption('--key <key>', 'connectivity key')
      .requiredOption('--count <n>', 'how many clients')
      .option(
        '--prefix <name>',
        "client names are PREFIX-0 ... PREFIX-(N-1) (ids come from each client's own key pair)",
        'bench',
      )
      .option('--allow-forward <ports>', 'ports each client allows')
      .option('--allow-exec', 'allow commands')
      .option('--interval <seconds>', 'seconds between status lines', '5')
      .option(
        '--ramp <n>',
        'at most N clients of this process making their first connection at a time (later reconnects are not held back)',
        '200',
      )
      .option(
        '--local-address <ip>',
        "dial from this local address (each generator its own, as a fleet's machines have: one address holds at most ~28,000 connections to a server, and connects slow down long before)",
      ),
  ).action((flags: BenchClientFlags) => {
    const count = Number(flags.count);
    if (!Number.isInteger(count) || count < 1) throw new Error('--count must be a positive whole number');
    const ramp = Number(flags.ramp);
    if (!Number.isInteger(ramp) || ramp < 1) throw new Error('--ramp must be a positive whole number');
    const gateway = gatewayAddress(flags.gateway);
    if (flags.localAddress !== undefined && net.isIP(flags.localAddress) === 0)
      throw new Error(`--local-address must be an IP address, not ${flags.localAddress}`);
    const dial = { ...dialOptions(flags, gateway.tls), localAddress: flags.localAddress };
    const policy = { allowForward: new Set(parsePorts(flags.allowForward)), allowExec: Boolean(flags.allowExec) };
    const agents: ClientAgent[] = [];
    /** Why clients are waiting to retry, counted by reason: the first thing to read in a storm. */
    const lastReason = new Map<ClientAgent, string>();
    /** Clients welcomed at least once: the ramp lets the next ones start as these arrive. */
    const everConnected = new Set<ClientAgent>();
    const started = Date.now();
    let allConnectedReported = false;
    /**
     * How the clients retried, cumulative: connection attempts, welcomes, refusals by a busy server
     * (503 with a retry hint), retries that went out before their hint was over (should stay 0), and
     * the waits chosen after a busy refusal (hint or jittered backoff, whichever is longer).
     */
    const retries = { attempts: 0, welcomes: 0, busy: 0, early: 0 };
    const busyWaits: number[] = [];
    const hinted = new Map<ClientAgent, { at: number; hintMs: number }>();
    /**
     * Clients that lost a server they were connected to and came back: how long each was away and
     * how many connections it tried meanwhile, and every reason it waited on the way (a failover's
     * story, where the last reason alone shows only the stragglers).
     */
    const away = new Map<ClientAgent, { since: number; attempts: number; attemptAt: number }>();
    const returns = {
      awayMs: [] as number[],
      attempts: [] as number[],
      /** Each attempt meanwhile: dial → its outcome; and each wait chosen before the next. */
      attemptMs: [] as number[],
      waitMs: [] as number[],
      reasons: {} as Record<string, number>,
    };
    const spread = (values: readonly number[]) => {
      if (values.length === 0) return undefined;
      const sorted = [...values].sort((x, y) => x - y);
      const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
      return { min: sorted[0]!, p10: at(0.1), p50: at(0.5), p90: at(0.9), max: sorted.at(-1)! };
    };
    const status = () => {
      const byServer: Record<string, number> = {};
      let connected = 0;
      for (const a of agents) {
        if (a.status !== 'connected') continue;
        connected++;
        byServer[a.server ?? '?'] = (byServer[a.server ?? '?'] ?? 0) + 1;
      }
      const waiting: Record<string, number> = {};
      for (const [a, reason] of lastReason) if (a.status !== 'connected') waiting[reason] = (waiting[reason] ?? 0) + 1;
      return {
        msg: 'bench clients',
        count,
        connected,
        byServer,
        waiting,
        retries: { ...retries, busyWaitMs: spread(busyWaits) },
        returns: {
          count: returns.awayMs.length,
          awayMs: spread(returns.awayMs),
          attempts: spread(returns.attempts),
          attemptMs: spread(returns.attemptMs),
          waitMs: spread(returns.waitMs),
          reasons: returns.reasons,
        },
        elapsedMs: Date.now() - started,
      };
    };
    const print = () => process.stdout.write(JSON.stringify(status()) + '\n');
    for (let i = 0; i < count; i++) {
      const agent = new ClientAgent({
        gateway: gateway.address,
        secondary: flags.secondary ? gatewayAddress(flags.secondary).address : undefined,
        key: flags.key,
        identity: newIdentity(),
        name: `${flags.prefix}-${i}`,
        group: flags.prefix,
        platform: 'bench',
        policy,
        dial,
        backoff: new Backoff(250, 10_000),
      });
      agent.on('status', (s, detail) => {
        const reason = (detail.reason ?? '').replace(/\d+ ms/, 'N ms').slice(0, 80);
        if (s === 'waiting') lastReason.set(agent, reason);
        let gone = away.get(agent);
        if (!gone && s !== 'connected' && everConnected.has(agent))
          away.set(agent, (gone = { since: Date.now(), attempts: 0, attemptAt: 0 }));
        if (gone && gone.attemptAt && s !== 'connecting') returns.attemptMs.push(Date.now() - gone.attemptAt);
        if (gone && s === 'connecting') {
          gone.attempts++;
          gone.attemptAt = Date.now();
        }
        if (gone && s === 'waiting') {
          returns.reasons[reason] = (returns.reasons[reason] ?? 0) + 1;
          returns.waitMs.push(detail.delayMs ?? 0);
        }
        if (gone && s === 'connected') {
          away.delete(agent);
          returns.awayMs.push(Date.now() - gone.since);
          returns.attempts.push(gone.attempts);
        }
        if (s === 'waiting' && detail.retryAfterMs !== undefined) {
          retries.busy++;
          busyWaits.push(detail.delayMs ?? 0);
          hinted.set(agent, { at: performance.now(), hintMs: detail.retryAfterMs });
        }
        if (s === 'connecting') {
          retries.attempts++;
          const hint = hinted.get(agent);
          hinted.delete(agent);
          // Timers may fire a millisecond early: only a clearly early retry counts.
          if (hint && performance.now() - hint.at < hint.hintMs - 2) retries.early++;
        }
        if (s === 'connected') retries.welcomes++;
        if (s === 'connected' && !everConnected.has(agent)) everConnected.add(agent);
        if (
          s === 'connected' &&
          !allConnectedReported &&
          everConnected.size === count &&
          agents.every((a) => a.status === 'connected')
        ) {
          allConnectedReported = true;
          process.stdout.write(JSON.stringify({ ...status(), msg: 'all connected' }) + '\n');
        }
      });
      agents.push(agent);
    }
    // Start in small slices, with at most --ramp first connections in flight: one process holding
    // thousands of clients on a busy machine would otherwise time out its own handshakes. Only the
    // start is paced; every reconnect after that is each client's own business (its backoff).
    let next = 0;
    const startSome = () => {
      const end = Math.min(count, next + 200, everConnected.size + ramp);
      for (; next < end; next++) agents[next]!.start();
      if (next < count) setTimeout(startSome, 10);
    };
    startSome();
    setInterval(print, Number(flags.interval) * 1000);
    const stop = () => {
      for (const a of agents) a.stop();
      process.exit(0);
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  return bench;
}
