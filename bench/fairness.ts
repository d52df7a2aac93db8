import { median, round } from './stats.js';

/**
 * How evenly concurrent sessions share a path: min / median / max of the per-session rates, and
 * Jain's fairness index (sum x)^2 / (n * sum x^2): 1 when all are equal, 1/n when one takes all.
 */
export interface Fairness {
  minMBps: number;
  medianMBps: number;
  maxMBps: number;
  jain: number;
  /** min / median: "no session starved" when this is above a fraction (we report it, 0.25 say). */
  minOverMedian: number;
}

export function jainIndex(values: number[]): number {
  const sum = values.reduce((a, b) => a + b, 0);
  const squares = values.reduce((a, b) => a + b * b, 0);
  return squares === 0 ? 1 : (sum * sum) / (values.length * squares);
}

export function fairness(ratesMBps: number[]): Fairness {
  const med = median(ratesMBps);
  const min = Math.min(...ratesMBps);
  return {
    minMBps: round(min, 3),
    medianMBps: round(med, 3),
    maxMBps: round(Math.max(...ratesMBps), 3),
    jain: round(jainIndex(ratesMBps), 3),
    minOverMedian: round(med > 0 ? min / med : 0, 2),
  };
}
