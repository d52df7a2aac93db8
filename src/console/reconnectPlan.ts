/**
 * What a console page does when it loses its server (pure): the decisions of connection.ts, which
 * does the I/O. First it retries its own origin with backoff, which is all it needs when the
 * cluster is reached through one name (DNS, a virtual IP, a proxy); when its origin stays down, it
 * moves to another server of the cluster; when the server it reaches names another as the acting
 * primary (a secondary that stepped down after failback, or has not stood in yet), it follows.
 */

/** What asking the page's own server "who am I" (GET /api/v1/session) gave. */
export type Probe = { kind: 'ok' } | { kind: 'logged-out' } | { kind: 'elsewhere'; primary: string } | { kind: 'down' };

export type Step =
  | { kind: 'resume' }
  | { kind: 'login' }
  | { kind: 'wait'; ms: number; why: 'down' | 'standing-in' }
  | { kind: 'move'; to: string };

export interface PlanInput {
  probe: Probe;
  /** Probes that failed in a row before this one. */
  failures: number;
  /** This page's server (location.host). */
  here: string;
  /** The cluster's servers that serve the console (primary, secondary), as the API last named them. */
  consoles: readonly string[];
  /** The server this page left because it was down, and how long ago: not gone back to at once. */
  left?: { address: string; agoMs: number };
}

/**
 * Failed probes of its own server after which a page moves to another (about 7 s: 0, 1, 2, 4 s).
 * A restart of that server is often quicker; a failover seldom is, so moving sooner gains little.
 */
export const MOVE_AFTER_FAILURES = 4;
/**
 * How long a page that fled a dead primary waits for the secondary to stand in, while the
 * secondary still names that primary, before it goes back to look (a primary that only restarted).
 */
export const STAND_IN_WAIT_MS = 45_000;
const MAX_DELAY_MS = 10_000;

/** 1 s, 2 s, 4 s, 8 s, then every 10 s. */
export function retryDelay(failures: number): number {
  return Math.min(MAX_DELAY_MS, 1000 * 2 ** Math.max(0, failures));
}

/** Where a page goes when its own server is down: the server after it in the list, or the first. */
function alternate(here: string, consoles: readonly string[]): string | undefined {
  const others = consoles.filter((a) => a !== here);
  if (others.length === 0) return undefined;
  const at = consoles.indexOf(here);
  return at < 0 ? others[0] : (consoles.slice(at + 1).find((a) => a !== here) ?? others[0]);
}

export function nextStep({ probe, failures, here, consoles, left }: PlanInput): Step {
  switch (probe.kind) {
    case 'ok':
      return { kind: 'resume' };
    case 'logged-out':
      return { kind: 'login' };
    case 'elsewhere': {
      const waiting = left?.address === probe.primary && left.agoMs < STAND_IN_WAIT_MS;
      if (probe.primary === here || waiting) return { kind: 'wait', ms: retryDelay(failures), why: 'standing-in' };
      return { kind: 'move', to: probe.primary };
    }
    case 'down': {
      const to = failures + 1 >= MOVE_AFTER_FAILURES ? alternate(here, consoles) : undefined;
      return to ? { kind: 'move', to } : { kind: 'wait', ms: retryDelay(failures), why: 'down' };
    }
  }
}

/**
 * A live stream that ended this soon after it opened (or before it opened) failed "at once": a
 * server that refuses it, or drops it each time as too slow a reader, would otherwise have the page
 * reconnect (and reload its whole list) in a tight loop, since asking who we are still succeeds.
 */
export const SHORT_LIVED_STREAM_MS = 30_000;

/** How long to wait before looking for the server again after `quickFailures` streams in a row failed at once: the first not at all. */
export function streamRetryDelay(quickFailures: number): number {
  return quickFailures <= 1 ? 0 : retryDelay(quickFailures - 2);
}
