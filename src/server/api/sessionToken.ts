import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * API session tokens that any server of the cluster can verify, so a login survives a failover and a
 * failback without session records travelling between servers.
 *
 * A token is base64url of: the login time (4 bytes, seconds), 10 random bytes, a 16-byte MAC, and
 * the operator's name. The MAC is an HMAC, under a key derived from the cluster secret, over all of
 * that and the operator's credential stamp at login (credentialStamp.ts), which the token does not
 * carry: a server recomputes it with the stamp its store has now, so a password or TOTP change, or
 * the operator's removal, ends every token everywhere, as it ends them on the server that issued
 * them. Logouts are recorded by the token's SHA-256 in the replicated store (configStore addLogout).
 * With names of at most 64 characters a token stays within the 128 characters a bearer token and a
 * control's token login allow.
 */
const TIME_BYTES = 4;
const NONCE_BYTES = 10;
const MAC_BYTES = 16;
const HEAD_BYTES = TIME_BYTES + NONCE_BYTES + MAC_BYTES;
const NAME = /^[A-Za-z0-9._@-]{1,64}$/;

/** The signing key: from the cluster secret when there is one (every server derives the same), else random per process. */
export function sessionSigningKey(clusterSecret: string | undefined): Buffer {
  if (!clusterSecret) return randomBytes(32);
  return createHmac('sha256', clusterSecret).update('switchboard-api-session-v1').digest();
}

export interface TokenClaims {
  operator: string;
  /** Login time, in ms (whole seconds). */
  createdAt: number;
  stamp: string;
}

function mac(key: Buffer, head: Buffer, operator: string, stamp: string): Buffer {
  return createHmac('sha256', key)
    .update(head)
    .update('\0')
    .update(operator)
    .update('\0')
    .update(stamp)
    .digest()
    .subarray(0, MAC_BYTES);
}

export function issueToken(
  key: Buffer,
  operator: string,
  stamp: string,
  now: number,
): { token: string; createdAt: number } {
  const seconds = Math.floor(now / 1000);
  const head = Buffer.alloc(TIME_BYTES + NONCE_BYTES);
  head.writeUInt32BE(seconds, 0);
  randomBytes(NONCE_BYTES).copy(head, TIME_BYTES);
  const token = Buffer.concat([head, mac(key, head, operator, stamp), Buffer.from(operator, 'utf8')]).toString(
    'base64url',
  );
  return { token, createdAt: seconds * 1000 };
}

/**
 * The claims of a token this cluster issued and whose operator still has the stamp it logged in
 * with (`stampOf` answers from the store now); undefined for anything else.
 */
export function verifyToken(
  key: Buffer,
  token: string,
  stampOf: (operator: string) => string | undefined,
): TokenClaims | undefined {
  const raw = Buffer.from(token, 'base64url');
  if (raw.length <= HEAD_BYTES || raw.toString('base64url') !== token) return undefined;
  const operator = raw.subarray(HEAD_BYTES).toString('utf8');
  if (!NAME.test(operator)) return undefined;
  const stamp = stampOf(operator);
  if (stamp === undefined) return undefined;
  const head = raw.subarray(0, TIME_BYTES + NONCE_BYTES);
  if (!timingSafeEqual(mac(key, head, operator, stamp), raw.subarray(TIME_BYTES + NONCE_BYTES, HEAD_BYTES)))
    return undefined;
  return { operator, createdAt: raw.readUInt32BE(0) * 1000, stamp };
}

/** The operator a token names, unverified: for words about a token already known to be ours (a handover ticket's). */
export function tokenOperator(token: string): string | undefined {
  const operator = Buffer.from(token, 'base64url').subarray(HEAD_BYTES).toString('utf8');
  return NAME.test(operator) ? operator : undefined;
}

/** The CSRF token of a session: derived from its token, so every server gives the console the same one. */
export function csrfOf(key: Buffer, token: string): string {
  return createHmac('sha256', key).update('csrf\0').update(token).digest().subarray(0, 24).toString('base64url');
}

/** The id a session is known by (in memory and in the logout list): its token's SHA-256, never the token. */
export function tokenId(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
