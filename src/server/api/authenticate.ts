import { timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import { ErrorCodes } from '../../protocol/errors.js';
import type { ConfigStore, Operator } from '../../store/configStore.js';
import type { VisibleKeys } from '../controlOps.js';
import { revokedBecause } from '../credentialStamp.js';
import { ApiError } from './apiError.js';
import type { SessionTable, WebSession } from './sessionTable.js';

export const SESSION_COOKIE = 'sb_session';
export const CSRF_HEADER = 'x-csrf-token';

/** Who is calling: the operator as the store has it now (so a role change applies at once). */
export interface Principal {
  operator: Operator;
  /** The keys whose clients this caller may see and reach; undefined for an admin (every key). */
  keys: VisibleKeys;
  session: WebSession;
  token: string;
  via: 'bearer' | 'cookie';
}

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 1) continue;
    const name = part.slice(0, eq).trim();
    if (!out.has(name)) out.set(name, part.slice(eq + 1).trim());
  }
  return out;
}

/** The session cookie: HttpOnly (no script reads it), SameSite=Strict, Secure whenever we speak TLS. */
export function sessionCookie(token: string, maxAgeSeconds: number, secure: boolean): string {
  return `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure ? '; Secure' : ''}`;
}

export function clearedCookie(secure: boolean): string {
  return sessionCookie('', 0, secure);
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function tokenOf(req: http.IncomingMessage): { token: string; via: 'bearer' | 'cookie' } | undefined {
  const auth = req.headers.authorization;
  if (auth) {
    const m = /^Bearer\s+([A-Za-z0-9_-]{16,128})$/.exec(auth);
    return m ? { token: m[1]!, via: 'bearer' } : undefined;
  }
  const cookie = parseCookies(req.headers.cookie).get(SESSION_COOKIE);
  return cookie ? { token: cookie, via: 'cookie' } : undefined;
}

export function hostOf(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined;
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD']);

/**
 * Resolves the caller of a request, or throws 401. A browser's cookie is sent by the browser on its
 * own, so a change made with it must also carry the CSRF token that only our own page can read
 * (and must not come from another origin); a bearer token is never ambient and needs neither.
 */
export function authenticate(
  req: http.IncomingMessage,
  sessions: SessionTable,
  store: ConfigStore,
  now: number,
): Principal {
  const presented = tokenOf(req);
  if (!presented) throw new ApiError(401, ErrorCodes.LOGIN_REQUIRED, 'log in first: POST /api/v1/login');
  const session = sessions.touch(presented.token, now);
  if (!session)
    throw new ApiError(
      401,
      ErrorCodes.LOGIN_REQUIRED,
      sessions.endedBecause(presented.token) ?? 'session expired or unknown; log in again',
    );
  // Removed, or its password or TOTP changed (here, offline, or replicated): the token ends.
  // Role and keys are read here at each request, so a change of scope applies at once.
  const revoked = revokedBecause(session, store);
  const secrets = revoked === undefined ? store.operatorSecrets(session.operator) : undefined;
  if (!secrets) {
    const reason = revoked ?? `operator ${session.operator} no longer exists`;
    sessions.forget(presented.token, reason);
    throw new ApiError(401, ErrorCodes.LOGIN_REQUIRED, reason);
  }
  const { passwordHash: _p, totpSecret: _t, ...operator } = secrets;
  if (presented.via === 'cookie' && !SAFE_METHODS.has(req.method ?? 'GET')) {
    const csrf = req.headers[CSRF_HEADER];
    if (typeof csrf !== 'string' || !sameSecret(csrf, session.csrf))
      throw new ApiError(403, ErrorCodes.CSRF, `missing or wrong ${CSRF_HEADER} header`);
    const origin = req.headers.origin;
    if (origin && hostOf(origin) !== req.headers.host)
      throw new ApiError(403, ErrorCodes.CSRF, `cross-origin change refused (${origin})`);
  }
  return {
    operator,
    keys: operator.role === 'admin' ? undefined : new Set(operator.keys),
    session,
    token: presented.token,
    via: presented.via,
  };
}

export function requireAdmin(who: Principal): void {
  if (who.operator.role !== 'admin')
    throw new ApiError(403, ErrorCodes.FORBIDDEN, `operator ${who.operator.name} is not an admin`);
}
