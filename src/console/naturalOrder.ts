/**
 * The one order of clients everywhere: the server's pages, `control browse` and the console's list.
 * Names compare "naturally" (pc-2 before pc-10): runs of digits by their value, the text between
 * them without regard to case. Plain code-unit comparisons, never localeCompare, so that the browser
 * and the server (whatever their locales) agree, and a cursor taken from one page means the same
 * place on the next.
 *
 * It lives with the console because the browser may load only files of src/console; the server
 * imports it from here. Pure: no DOM, no Node.
 */

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

function lower(code: number): number {
  return code >= 65 && code <= 90 ? code + 32 : code;
}

/** The end of the run (all digits or all non-digits) that starts at `from`. */
function runEnd(s: string, from: number): number {
  const digits = isDigit(s.charCodeAt(from));
  let i = from + 1;
  while (i < s.length && isDigit(s.charCodeAt(i)) === digits) i++;
  return i;
}

/** Digit runs by value: leading zeros aside, the longer is larger, else the first differing digit decides. */
function compareNumber(a: string, aFrom: number, aEnd: number, b: string, bFrom: number, bEnd: number): number {
  while (aFrom < aEnd - 1 && a.charCodeAt(aFrom) === 48) aFrom++;
  while (bFrom < bEnd - 1 && b.charCodeAt(bFrom) === 48) bFrom++;
  const length = aEnd - aFrom - (bEnd - bFrom);
  if (length !== 0) return length;
  for (; aFrom < aEnd; aFrom++, bFrom++) {
    const d = a.charCodeAt(aFrom) - b.charCodeAt(bFrom);
    if (d !== 0) return d;
  }
  return 0;
}

/** Text runs case-blind, code unit by code unit; a run that is a prefix of the other comes first. */
function compareText(a: string, aFrom: number, aEnd: number, b: string, bFrom: number, bEnd: number): number {
  for (; aFrom < aEnd && bFrom < bEnd; aFrom++, bFrom++) {
    const d = lower(a.charCodeAt(aFrom)) - lower(b.charCodeAt(bFrom));
    if (d !== 0) return d;
  }
  return aEnd - aFrom - (bEnd - bFrom);
}

/**
 * Negative, zero or positive as `a` sorts before, with or after `b`. A total order: names equal
 * but for case or leading zeros fall back to their code units, so only identical strings tie.
 * (A name is a sequence of runs compared run by run; a digit run sorts before a text run.)
 */
export function compareNatural(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const aEnd = runEnd(a, i);
    const bEnd = runEnd(b, j);
    const aDigits = isDigit(a.charCodeAt(i));
    const bDigits = isDigit(b.charCodeAt(j));
    let d: number;
    if (aDigits !== bDigits) d = aDigits ? -1 : 1;
    else d = aDigits ? compareNumber(a, i, aEnd, b, j, bEnd) : compareText(a, i, aEnd, b, j, bEnd);
    if (d !== 0) return d;
    i = aEnd;
    j = bEnd;
  }
  const rest = a.length - i - (b.length - j);
  if (rest !== 0) return rest;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The sort key of a client: its name, then its id (unique), so no two clients ever tie. */
export interface SortKey {
  name: string;
  id: string;
}

export function compareClients(a: SortKey, b: SortKey): number {
  return compareNatural(a.name, b.name) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
