import { isLoopback } from './connectionLimits.js';
import { TokenBucket } from './tokenBucket.js';

/**
 * Admission of new client connections, in two budgets that cannot reach each other. Pure: the
 * clock is passed in.
 *
 * A client that proves its key in its upgrade headers (placementRequest.ts, checked before any
 * WebSocket) takes from the `admission-rate` bucket, as every client did before. An upgrade that
 * proves nothing (a stranger, or a real client whose clock is more than 5 minutes off) takes from a
 * separate, much smaller budget, first from its own address's share of it, then from the shared
 * unproven bucket. So a flood without a key never takes a token nor a retry slot from a client
 * that proves one, and one flooding address is mostly turned away by its own share, leaving the
 * unproven budget, and its retry slots, to the other addresses.
 *
 * Each bucket hands out its own retry slots (tokenBucket.ts), so a hint only ever reflects the
 * backlog of the callers who share that bucket.
 *
 * The work an admitted unproven upgrade costs afterwards (a WebSocket, a challenge and a hello timer
 * for at most `hello-timeout`) is bounded by the same budget: at most (burst + rate x hello-timeout)
 * of them wait for a hello at once, from all addresses together.
 */

/** The unproven budget: this share of `admission-rate`, on top of it (one twentieth: 100/s by default). */
export const UNPROVEN_SHARE = 0.05;
/** The least unproven rate, so a low `admission-rate` still lets a client whose clock is off in. */
export const MIN_UNPROVEN_RATE = 1;
/** One address may take this share of the unproven budget: ten flooding addresses to fill it. */
export const ADDRESS_SHARE = 0.1;
/**
 * Addresses whose share is remembered (a few hundred bytes each); past it the least recently seen
 * is forgotten, so a stranger with many addresses cannot grow the map, only reset shares, which
 * the shared unproven bucket still caps.
 */
export const MAX_ADDRESSES = 4096;

/** Why an upgrade was turned away: the label of `switchboard_refusals_total`. */
export type AdmissionReason = 'busy' | 'busy_address' | 'busy_unproven';

export interface AdmissionRefusal {
  reason: AdmissionReason;
  /** How long the caller should wait: its own slot in the bucket that refused it. */
  waitMs: number;
  /** What the caller is told (with SB_ERR_BUSY). */
  message: string;
}

const REFUSAL_TEXT: Record<AdmissionReason, string> = {
  busy: 'server busy admitting clients',
  busy_address: 'too many connections proving no key from this address',
  busy_unproven: 'server busy admitting connections that prove no key',
};

export class Admission {
  private readonly proven: TokenBucket;
  private readonly unproven: TokenBucket;
  /** Each address's share of the unproven budget, least recently seen first (Map keeps insertion order). */
  private readonly byAddress = new Map<string, TokenBucket>();
  private addressRate: number;

  constructor(
    ratePerSecond: number,
    now: number,
    private readonly maxAddresses = MAX_ADDRESSES,
  ) {
    const unprovenRate = unprovenRateFor(ratePerSecond);
    this.proven = new TokenBucket(ratePerSecond, ratePerSecond * 2, now);
    this.unproven = new TokenBucket(unprovenRate, unprovenRate * 2, now);
    this.addressRate = unprovenRate * ADDRESS_SHARE;
  }

  /** A new `admission-rate`: every budget follows it. */
  configure(ratePerSecond: number): void {
    const unprovenRate = unprovenRateFor(ratePerSecond);
    this.proven.configure(ratePerSecond, ratePerSecond * 2);
    this.unproven.configure(unprovenRate, unprovenRate * 2);
    this.addressRate = unprovenRate * ADDRESS_SHARE;
    for (const bucket of this.byAddress.values()) bucket.configure(this.addressRate, this.addressBurst());
  }

  /** Admits one upgrade (undefined) or says why not and when to come back. */
  take(proven: boolean, address: string, now: number): AdmissionRefusal | undefined {
    if (proven) return refusal('busy', this.proven.take(now));
    // Local tools share 127.0.0.1 and ::1 (connectionLimits.ts): they have no share of their own.
    const own = isLoopback(address) ? undefined : this.shareOf(sourceKey(address), now);
    const ownWait = own?.take(now) ?? 0;
    if (ownWait > 0) return refusal('busy_address', ownWait);
    const sharedWait = this.unproven.take(now);
    if (sharedWait > 0) {
      // Refused for everyone's sake, not its own: its share keeps the token for its next try.
      own?.refund();
      return refusal('busy_unproven', sharedWait);
    }
    return undefined;
  }

  /** How many addresses have a share remembered (at most `maxAddresses`). */
  get addresses(): number {
    return this.byAddress.size;
  }

  private addressBurst(): number {
    return Math.max(1, this.addressRate * 2);
  }

  private shareOf(key: string, now: number): TokenBucket {
    let bucket = this.byAddress.get(key);
    if (bucket) {
      // Seen again: moved to the end, the last to be forgotten.
      this.byAddress.delete(key);
    } else {
      if (this.byAddress.size >= this.maxAddresses) this.byAddress.delete(this.byAddress.keys().next().value!);
      bucket = new TokenBucket(this.addressRate, this.addressBurst(), now);
    }
    this.byAddress.set(key, bucket);
    return bucket;
  }
}

function unprovenRateFor(ratePerSecond: number): number {
  return Math.max(MIN_UNPROVEN_RATE, ratePerSecond * UNPROVEN_SHARE);
}

function refusal(reason: AdmissionReason, waitMs: number): AdmissionRefusal | undefined {
  return waitMs > 0 ? { reason, waitMs, message: `${REFUSAL_TEXT[reason]}; retry in ${waitMs} ms` } : undefined;
}

/**
 * The source a share belongs to: an IPv4 address (IPv4-mapped IPv6 included) as is, an IPv6
 * address by its /64, the smallest block a site is given: one host can hold a whole /64.
 */
export function sourceKey(address: string): string {
  const bare = address.replace(/%.*$/, '').toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(bare);
  if (mapped) return mapped[1]!;
  if (!bare.includes(':')) return bare;
  const [head = '', tail] = bare.split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  // A dotted IPv4 tail (::ffff:..., 64:ff9b::...) stands for two groups.
  const tailWidth = tailGroups.length + (tailGroups.at(-1)?.includes('.') ? 1 : 0);
  const groups =
    tail === undefined
      ? headGroups
      : [...headGroups, ...Array<string>(Math.max(0, 8 - headGroups.length - tailWidth)).fill('0'), ...tailGroups];
  return `${groups
    .slice(0, 4)
    .map((g) => (/^[0-9a-f]{1,4}$/.test(g) ? parseInt(g, 16).toString(16) : g))
    .join(':')}::/64`;
}
