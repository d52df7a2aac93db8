import { ZodError } from 'zod';
import { ErrorCodes, SwitchboardError, type ErrorCode } from '../../protocol/errors.js';
import { ConfigError, type ConfigErrorKind } from '../../store/configStore.js';

/** A refusal with its HTTP status; the body is `{ error: { code, message, ...extra } }`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** The HTTP status for each stable error code a route may throw (pure; the table is the contract). */
const statusByCode: Partial<Record<ErrorCode, number>> = {
  [ErrorCodes.BAD_MESSAGE]: 400,
  [ErrorCodes.CONFIG]: 400,
  [ErrorCodes.LOGIN_REQUIRED]: 401,
  [ErrorCodes.BAD_LOGIN]: 401,
  [ErrorCodes.FORBIDDEN]: 403,
  [ErrorCodes.CSRF]: 403,
  [ErrorCodes.POLICY_REFUSED]: 403,
  [ErrorCodes.TLS_REQUIRED]: 403,
  [ErrorCodes.NOT_FOUND]: 404,
  [ErrorCodes.UNKNOWN_CLIENT]: 404,
  [ErrorCodes.UNKNOWN_DEVICE]: 404,
  [ErrorCodes.STATE_CONFLICT]: 409,
  [ErrorCodes.AMBIGUOUS_CLIENT]: 409,
  [ErrorCodes.MESSAGE_TOO_BIG]: 413,
  [ErrorCodes.NOT_PRIMARY]: 421,
  [ErrorCodes.LOCKED_OUT]: 429,
  [ErrorCodes.TOO_MANY_SESSIONS]: 429,
  [ErrorCodes.CONNECT_FAILED]: 502,
  [ErrorCodes.FILE_FAILED]: 502,
  [ErrorCodes.INTEGRITY]: 502,
  [ErrorCodes.CLIENT_REFUSED]: 502,
  [ErrorCodes.UNREACHABLE]: 502,
  [ErrorCodes.SHUTTING_DOWN]: 503,
  [ErrorCodes.SESSION_TIMEOUT]: 504,
  [ErrorCodes.STORE_FULL]: 507,
};

/** The answer to each kind of refused configuration change. */
const configRefusal: Record<ConfigErrorKind, { status: number; code: ErrorCode }> = {
  invalid: { status: 400, code: ErrorCodes.CONFIG },
  missing: { status: 404, code: ErrorCodes.NOT_FOUND },
  exists: { status: 409, code: ErrorCodes.CONFIG },
};

export function statusFor(code: ErrorCode): number {
  return statusByCode[code] ?? 500;
}

/** Whatever a route threw, as the status and body the caller gets. Internal errors say nothing more. */
export function toHttpError(err: unknown): { status: number; body: { error: Record<string, unknown> } } {
  if (err instanceof ApiError)
    return { status: err.status, body: { error: { code: err.code, message: err.message, ...err.extra } } };
  if (err instanceof SwitchboardError)
    return { status: statusFor(err.code), body: { error: { code: err.code, message: err.message } } };
  if (err instanceof ConfigError) {
    // The store's own checks (a bad value, no such name, a name taken): the caller's mistake.
    const { status, code } = configRefusal[err.kind];
    return { status, body: { error: { code, message: err.message } } };
  }
  if (err instanceof ZodError) {
    const first = err.issues[0];
    const message = first ? `${first.path.join('.') || 'body'}: ${first.message}` : 'invalid request';
    return { status: 400, body: { error: { code: ErrorCodes.BAD_MESSAGE, message } } };
  }
  if (err instanceof URIError)
    return {
      status: 400,
      body: { error: { code: ErrorCodes.BAD_MESSAGE, message: 'malformed percent-encoding in the path' } },
    };
  return { status: 500, body: { error: { code: ErrorCodes.INTERNAL, message: 'internal error' } } };
}
