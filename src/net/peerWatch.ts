import { heartbeatVerdict, type HeartbeatPolicy } from './heartbeat.js';

/** The heartbeat of one connection: tell it when the peer shows a sign of life; stop it at close. */
export interface PeerWatch {
  seen(): void;
  stop(): void;
}

export interface PeerWatchActions {
  /** Called at each tick the peer is alive (the pinging side pings here). */
  ping?(): void;
  /** Called once, when the peer stayed silent past the policy's allowance; the watch stops. */
  dead(): void;
}

/**
 * The state of one connection's heartbeat, apart from its timer: `tick` is what the timer runs,
 * and returns false once the peer is dead (the timer stops then).
 */
export class PeerHeartbeat {
  private lastSeen: number;
  private lastTick: number;

  constructor(
    private readonly policy: HeartbeatPolicy,
    private readonly actions: PeerWatchActions,
    private readonly clock = Date.now,
  ) {
    this.lastSeen = this.lastTick = clock();
  }

  seen(): void {
    this.lastSeen = this.clock();
  }

  tick(): boolean {
    const now = this.clock();
    const verdict = heartbeatVerdict(this.policy, { lastSeen: this.lastSeen, lastTick: this.lastTick, now });
    this.lastTick = now;
    if (verdict === 'dead') {
      this.actions.dead();
      return false;
    }
    if (verdict === 'forgive') this.lastSeen = now;
    this.actions.ping?.();
    return true;
  }
}

/**
 * Runs the heartbeat policy (heartbeat.ts) for one connection on its own timer, which never keeps
 * the process alive. The server does not use this for its clients: one timer for all of them.
 */
export function watchPeer(policy: HeartbeatPolicy, actions: PeerWatchActions): PeerWatch {
  const heartbeat = new PeerHeartbeat(policy, actions);
  const timer = setInterval(() => heartbeat.tick() || clearInterval(timer), policy.intervalMs);
  timer.unref();
  return {
    seen: () => heartbeat.seen(),
    stop: () => clearInterval(timer),
  };
}
