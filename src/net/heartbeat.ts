/**
 * One heartbeat policy for every connection that must notice a silent peer (the server's clients,
 * the agent's server, the cluster link): a timer ticks every `intervalMs`; at each tick the peer is
 * judged by when it was last seen, and the pinging side pings it.
 *
 * Silence is counted up to the tick's due time, not to the moment the callback ran: with
 * `missed: 1`, a peer is dead when it has not answered the ping of the previous tick, however late
 * this one runs. A tick that ran more than one whole interval late means our own event loop
 * stalled: the peer's answers may be sitting unread in the socket, so that round never counts
 * against it (a busy server must not cut off every client, nor a busy primary its members).
 *
 * Pure: times in, a verdict out. `watchPeer` (peerWatch.ts) runs it for one connection; the server
 * runs it for all its clients from one timer.
 */
export interface HeartbeatPolicy {
  /** How often the timer ticks (and the pinging side pings). */
  intervalMs: number;
  /** How many intervals the peer may stay silent before it is dead (fractions allowed). */
  missed: number;
}

/**
 * - `ping`: the peer is alive; ping it (when this side pings).
 * - `dead`: the peer stayed silent past its allowance; end the connection.
 * - `forgive`: our timer ran late; count the peer as seen now, and ping it.
 */
export type HeartbeatVerdict = 'ping' | 'dead' | 'forgive';

export interface HeartbeatTimes {
  /** When the peer was last seen (a pong, a ping, a message: what counts is the caller's). */
  lastSeen: number;
  /** When the previous tick ran (or the timer was started). */
  lastTick: number;
  now: number;
}

/** A tick this many intervals after the previous one ran late: our event loop stalled. */
const STALLED_AFTER = 2;

/** Did this tick run so late that our own event loop, not the peer, is to blame? */
export function timerStalled(policy: HeartbeatPolicy, lastTick: number, now: number): boolean {
  return now - lastTick > STALLED_AFTER * policy.intervalMs;
}

export function heartbeatVerdict(policy: HeartbeatPolicy, times: HeartbeatTimes): HeartbeatVerdict {
  if (timerStalled(policy, times.lastTick, times.now)) return 'forgive';
  const due = times.lastTick + policy.intervalMs;
  return due - times.lastSeen > policy.missed * policy.intervalMs ? 'dead' : 'ping';
}
