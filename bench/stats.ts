/** Small statistics and formatting helpers for the benchmarks: pure functions over numbers. */

export function median(values: number[]): number {
  return percentile(values, 50);
}

/** The nearest-rank percentile (p in 0..100) of the values; NaN for none. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

/** The paths in turn order for round `r`: over rounds, each goes first (and last) as often as the others. */
export function turn<T>(paths: T[], r: number): T[] {
  const k = r % paths.length;
  const order = [...paths.slice(k), ...paths.slice(0, k)];
  return Math.floor(r / paths.length) % 2 === 1 ? order.reverse() : order;
}

export function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Prints rows as an aligned text table, numbers right-aligned. */
export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map(String));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (row: string[], numeric: boolean[]) =>
    row
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number'));
  return [
    line(headers, numeric),
    line(
      widths.map((w) => '-'.repeat(w)),
      numeric,
    ),
    ...cells.map((r) => line(r, numeric)),
  ].join('\n');
}
