/** What a server answered when the secondary asked it about the primary. */
export interface Probe {
  address: string;
  /** Did it answer at all? */
  reachable: boolean;
  /** Does it still have a live link to the primary? */
  reachesPrimary: boolean;
}

export interface PromotionInput {
  /** Enabled servers of the table other than the primary and this secondary. */
  others: number;
  probes: readonly Probe[];
}

/**
 * May the secondary, which has lost the primary, take over? Not while a majority of the whole
 * cluster (primary, secondary and the others) still reaches the primary: then the cut is between
 * the primary and the secondary alone, and promoting would make two primaries. The primary counts
 * as reaching itself; an unreachable member counts as not reaching it.
 */
export function promotionDecision({ others, probes }: PromotionInput): { promote: boolean; reason: string } {
  const reaching = probes.filter((p) => p.reachable && p.reachesPrimary).length;
  const clusterSize = others + 2;
  if ((reaching + 1) * 2 > clusterSize) {
    return {
      promote: false,
      reason: `${reaching} of ${others} other servers still reach the primary: a majority of the cluster`,
    };
  }
  return { promote: true, reason: `only ${reaching} of ${others} other servers reach the primary` };
}

/** The epoch a newly acting primary takes: above every epoch it has seen. */
export function nextEpoch(...seen: number[]): number {
  return Math.max(0, ...seen) + 1;
}
