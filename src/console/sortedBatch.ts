/**
 * A batch of changes applied to a sorted array at once: the items in `gone` (by identity) taken
 * out, the items of `added` put in their places. The console applies the live events of a fleet
 * this way, a batch per redraw: one event at a time, each an array splice of up to 60,000 entries,
 * a burst of 10,000 departures is 600 million moves on the main thread; as one merge it is one pass.
 * Pure: no DOM.
 */

/** Below this many changes, binary search and splice in place; above, one merge into a new array. */
const SPLICE_AT_MOST = 32;

/** Where `item` is, or would go, in `sorted` (the first place not before it). */
export function placeOf<T>(sorted: readonly T[], item: T, compare: (a: T, b: T) => number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compare(sorted[mid]!, item) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * `sorted` without the items of `gone` and with those of `added`, still sorted by `compare` (a
 * total order). A small batch edits `sorted` in place and returns it; a large one returns a new
 * array and leaves `sorted` as it was. `added` holds no item already in `sorted` that stays, and no
 * item twice. Items of `gone` that `sorted` does not hold are ignored (a filtered list is given
 * every departure).
 */
export function applySorted<T>(
  sorted: T[],
  gone: ReadonlySet<T>,
  added: readonly T[],
  compare: (a: T, b: T) => number,
): T[] {
  if (gone.size + added.length === 0) return sorted;
  if (gone.size + added.length <= SPLICE_AT_MOST) {
    for (const item of gone) {
      const at = placeOf(sorted, item, compare);
      if (sorted[at] === item) sorted.splice(at, 1);
    }
    for (const item of added) {
      // Pages arrive in order: appending at the end is the common case and costs no search.
      const last = sorted[sorted.length - 1];
      if (last === undefined || compare(last, item) < 0) sorted.push(item);
      else sorted.splice(placeOf(sorted, item, compare), 0, item);
    }
    return sorted;
  }
  const incoming = [...added].sort(compare);
  const merged: T[] = [];
  let j = 0;
  for (const item of sorted) {
    if (gone.has(item)) continue;
    while (j < incoming.length && compare(incoming[j]!, item) < 0) merged.push(incoming[j++]!);
    merged.push(item);
  }
  while (j < incoming.length) merged.push(incoming[j++]!);
  return merged;
}
