import { ErrorCodes, SwitchboardError } from '../protocol/errors.js';
import type { SortKey } from '../console/naturalOrder.js';

/**
 * A page's cursor: the sort key (name, id) of the last client it held, so the next page starts
 * right after that place in the order, whoever arrived or left meanwhile (an offset would skip or
 * repeat clients). Opaque to callers: base64url of a small versioned JSON array.
 */
const VERSION = 1;
export const MAX_CURSOR_CHARS = 512;

export function encodeCursor(last: SortKey): string {
  return Buffer.from(JSON.stringify([VERSION, last.name, last.id])).toString('base64url');
}

/** The key a cursor stands for; a cursor this server did not make is SB_ERR_BAD_MESSAGE. */
export function decodeCursor(cursor: string): SortKey {
  const bad = () => new SwitchboardError(ErrorCodes.BAD_MESSAGE, 'bad cursor: pass the "next" of the previous page');
  if (cursor.length > MAX_CURSOR_CHARS || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw bad();
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  if (
    !Array.isArray(value) ||
    value.length !== 3 ||
    value[0] !== VERSION ||
    typeof value[1] !== 'string' ||
    typeof value[2] !== 'string'
  )
    throw bad();
  return { name: value[1], id: value[2] };
}
