import type { Key } from '../store/configStore.js';

/** A secret a client or control may prove: a key's current one, or its previous one in a rotation's grace. */
export interface AcceptedSecret extends Key {
  /** Set on an old secret: the key's new secret, handed to a client that proves the old one. */
  successor?: string;
}

/**
 * Which secrets prove which key at `now` (pure). During a rotation's grace both the new and the old
 * secret prove the key; after it (or `key retire`) the old one is only recognised, so that its
 * holder is told the key was rotated rather than that it is wrong. `nextChange`: when the answer
 * changes next without a configuration change (a grace period's end), or Infinity.
 */
export function acceptedSecrets(
  keys: readonly Key[],
  now: number,
): { accepted: AcceptedSecret[]; retired: AcceptedSecret[]; nextChange: number } {
  const accepted: AcceptedSecret[] = [];
  const retired: AcceptedSecret[] = [];
  let nextChange = Infinity;
  for (const key of keys) {
    accepted.push(key);
    if (key.previous === undefined || key.previousUntil === undefined) continue;
    const until = Date.parse(key.previousUntil);
    const old = { name: key.name, value: key.previous, createdAt: key.createdAt, successor: key.value };
    if (until > now) {
      accepted.push(old);
      nextChange = Math.min(nextChange, until);
    } else retired.push(old);
  }
  return { accepted, retired, nextChange };
}
