import { heartbeatVerdict, timerStalled, type HeartbeatPolicy } from '../net/heartbeat.js';
import type { ConnectedClient } from './context.js';
import type { Logger } from './logger.js';

/** A client that did not answer the previous ping is dead (the heartbeat policy's `missed`). */
const MISSED_PINGS = 1;
/** Ids named in a round's summary line at the most: the count says how many there were. */
const NAMED_PER_ROUND = 20;
/**
 * Clients judged and pinged per turn of the event loop. A round over 12,000 clients in one go held
 * the loop for 2-4 s on a loaded 2-core machine (a CPU profile of a fleet failover, docs/benchmarks.md):
 * long enough for the cluster links' peers to judge this server dead. In slices, the link pings,
 * hellos and controls waiting meanwhile are served between them.
 */
export const HEARTBEAT_SLICE = 500;

/** What the heartbeat needs of a client: one number of state per client, for 60,000 of them. */
export type HeartbeatClient = Pick<ConnectedClient, 'id' | 'lastSeen'> & {
  ws: { ping(): void; terminate(): void };
};

export interface HeartbeatRound {
  /** Clients found dead (and terminated) this round. */
  missed: number;
  /** The first of them, for the log line. */
  named: string[];
  /** Our timer ran late: nobody was judged, everyone was pinged. */
  stalled: boolean;
}

/** A round before anyone is judged: stalled when our timer ran late (never for a first round). */
function newRound(policy: HeartbeatPolicy, lastTick: number | undefined, now: number): HeartbeatRound {
  return { missed: 0, named: [], stalled: lastTick !== undefined && timerStalled(policy, lastTick, now) };
}

/**
 * One round of the server's heartbeat over all its clients: each is judged by the heartbeat
 * policy (src/net/heartbeat.ts), the dead terminated, the others pinged.
 */
export function heartbeatRound(
  clients: Iterable<HeartbeatClient>,
  policy: HeartbeatPolicy,
  /**
   * When the previous round pinged everyone; undefined for a timer's first round (the server
   * started, or the setting changed), which judges nobody: no client was asked to answer yet.
   */
  lastTick: number | undefined,
  now: number,
  round: HeartbeatRound = newRound(policy, lastTick, now),
): HeartbeatRound {
  for (const client of clients) {
    const verdict =
      // A first round only pings: whoever does not answer it is found at the next.
      lastTick === undefined ? 'ping' : heartbeatVerdict(policy, { lastSeen: client.lastSeen, lastTick, now });
    if (verdict === 'dead') {
      round.missed++;
      if (round.named.length < NAMED_PER_ROUND) round.named.push(client.id);
      client.ws.terminate();
      continue;
    }
    if (verdict === 'forgive') client.lastSeen = now;
    client.ws.ping();
  }
  return round;
}

/**
 * The server's heartbeat: one timer for all its clients (one per client would cost a timer each,
 * at 60,000 clients). A round that drops clients logs one line with the count, never one a client:
 * a network blip at 500 machines is one line, and the count goes to a metric.
 */
export class ClientHeartbeat {
  private timer: NodeJS.Timeout | undefined;
  /** The next slice of a round under way. */
  private slicing: NodeJS.Immediate | undefined;
  private intervalSeconds = 0;

  constructor(
    private readonly clients: Map<string, HeartbeatClient>,
    private readonly logger: Logger,
    private readonly countMissed: (n: number) => void,
  ) {}

  get seconds(): number {
    return this.intervalSeconds;
  }

  /** (Re)starts the timer at `seconds`: a changed setting takes effect at once. */
  schedule(seconds: number): void {
    this.stop();
    this.intervalSeconds = seconds;
    const policy: HeartbeatPolicy = { intervalMs: seconds * 1000, missed: MISSED_PINGS };
    /** When this timer last pinged everyone: none yet, so its first round judges nobody. */
    let lastTick: number | undefined;
    this.timer = setInterval(() => {
      // A round still going (a loop so busy that it outlasted an interval) is not started twice.
      if (this.slicing) return;
      const now = Date.now();
      this.runRound(policy, lastTick, now);
      lastTick = now;
    }, policy.intervalMs);
    this.timer.unref();
  }

  /**
   * One round, HEARTBEAT_SLICE clients a turn, over the clients connected when it began; one that
   * left meanwhile is skipped (its socket is closed). Every client is judged by the round's own
   * times, so a slice that runs a little later judges no one more harshly.
   */
  private runRound(policy: HeartbeatPolicy, lastTick: number | undefined, now: number): void {
    const round = newRound(policy, lastTick, now);
    if (round.stalled && lastTick !== undefined)
      this.logger.warn(
        { lateMs: now - lastTick - policy.intervalMs },
        'heartbeat ran late (the event loop stalled): no client judged this round',
      );
    const clients = [...this.clients.values()];
    let from = 0;
    const slice = () => {
      this.slicing = undefined;
      const part = clients.slice(from, (from += HEARTBEAT_SLICE)).filter((c) => this.clients.get(c.id) === c);
      heartbeatRound(part, policy, lastTick, now, round);
      if (from < clients.length) {
        this.slicing = setImmediate(slice);
        return;
      }
      if (!round.missed) return;
      this.countMissed(round.missed);
      this.logger.info({ missed: round.missed, clients: round.named }, 'clients missed their heartbeat');
    };
    // Not judged in the timers phase: a loop busy until the tick may hold the pongs of the last
    // ping unread in their sockets, and a client is dead for not answering that ping. The poll
    // phase reads them first; the first slice runs after it.
    this.slicing = setImmediate(slice);
  }

  stop(): void {
    clearInterval(this.timer);
    clearImmediate(this.slicing);
    this.slicing = undefined;
  }
}
