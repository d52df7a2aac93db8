import type { IncomingHttpHeaders } from 'node:http';
import { findProvenKey, keyProof } from './proof.js';

/**
 * Placement on the upgrade request itself. A client sends its id, the time and a proof of its key
 * over both as headers of its WebSocket upgrade; a server that would redirect it (the primary
 * placing it elsewhere, a draining member) answers with a plain HTTP 307 that names the server to
 * go to, before any WebSocket exists: no upgrade, no challenge, no hello, no close handshake.
 * Placement then costs the primary one HTTP exchange, and the client one round trip.
 *
 * The time stands in for the server's nonce, so a captured request can be replayed while it is
 * fresh: all a replay gets is the redirect that the eavesdropper saw anyway. The server that keeps
 * the client still challenges it with its own nonce and checks its key and identity signature.
 * A request without the headers, or with a stale or wrong proof, takes the challenge path, which
 * refuses a wrong key with its close code: a client whose clock is off only loses the shortcut.
 */
export const PLACEMENT_HEADERS = {
  id: 'x-switchboard-client-id',
  at: 'x-switchboard-time',
  proof: 'x-switchboard-proof',
} as const;

const PURPOSE = 'client-placement';
/** How far the client's clock may be from the server's for the shortcut to be taken. */
export const PLACEMENT_MAX_SKEW_MS = 5 * 60_000;
const ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

export function placementHeaders(key: string, id: string, now: number): Record<string, string> {
  const at = String(now);
  return {
    [PLACEMENT_HEADERS.id]: id,
    [PLACEMENT_HEADERS.at]: at,
    [PLACEMENT_HEADERS.proof]: keyProof(key, PURPOSE, at, id),
  };
}

/** The id of a client that proved one of `keys` in its upgrade headers, or undefined. */
export function provenPlacementId(
  headers: IncomingHttpHeaders,
  keys: Iterable<{ value: string }>,
  now: number,
): string | undefined {
  const id = headers[PLACEMENT_HEADERS.id];
  const at = headers[PLACEMENT_HEADERS.at];
  const proof = headers[PLACEMENT_HEADERS.proof];
  if (typeof id !== 'string' || typeof at !== 'string' || typeof proof !== 'string') return undefined;
  if (!ID_PATTERN.test(id) || !/^\d{1,15}$/.test(at) || Math.abs(now - Number(at)) > PLACEMENT_MAX_SKEW_MS)
    return undefined;
  return findProvenKey(keys, PURPOSE, at, id, proof) ? id : undefined;
}
