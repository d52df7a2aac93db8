import { ErrorCodes, type ErrorCode } from './errors.js';

/**
 * WebSocket close codes (4000-4999 is the application range) and what each one means. A peer that
 * is closed with one of these knows why without a further message; the reason text repeats it for
 * people reading logs.
 */
export const CloseCodes = {
  BAD_MESSAGE: 4000,
  BAD_KEY: 4001,
  HELLO_TIMEOUT: 4002,
  LOGIN_REQUIRED: 4003,
  BAD_LOGIN: 4004,
  LOCKED_OUT: 4005,
  FORBIDDEN: 4006,
  BAD_IDENTITY: 4007,
  DUPLICATE_CLIENT: 4009,
  NOT_PRIMARY: 4011,
  KEY_REMOVED: 4012,
  SHUTTING_DOWN: 4013,
  DRAINING: 4014,
  CLUSTER_AUTH: 4015,
  NOT_IN_CLUSTER: 4016,
  STALE_EPOCH: 4017,
  TLS_REQUIRED: 4018,
  HEARTBEAT_LOST: 4020,
  RATE_LIMITED: 4029,
  /** The operator was removed, its password or TOTP changed, or it may no longer use the key. */
  OPERATOR_REVOKED: 4030,
  /** An admin revoked this device: refused at its hello on every server, and cut off where it is connected. */
  DEVICE_REVOKED: 4031,
  /** The key secret the client proved was rotated and retired: the client needs the key's new secret. */
  KEY_ROTATED: 4032,
  /**
   * The resume ticket the client proved was not accepted (expired, another cluster's, or a wrong
   * proof): the client forgets it and signs its next hello, at once.
   */
  RESUME_REFUSED: 4033,
  /** A session bridged to a browser could not open or was cut; the reason is `CODE: message`. */
  SESSION_FAILED: 4040,
} as const;

export type CloseCode = (typeof CloseCodes)[keyof typeof CloseCodes];

/** Close codes after which a client should not retry at once with the same credentials. */
const closeCodeErrors: Partial<Record<number, ErrorCode>> = {
  [CloseCodes.BAD_MESSAGE]: ErrorCodes.BAD_MESSAGE,
  [CloseCodes.BAD_KEY]: ErrorCodes.BAD_KEY,
  [CloseCodes.HELLO_TIMEOUT]: ErrorCodes.HELLO_TIMEOUT,
  [CloseCodes.LOGIN_REQUIRED]: ErrorCodes.LOGIN_REQUIRED,
  [CloseCodes.BAD_LOGIN]: ErrorCodes.BAD_LOGIN,
  [CloseCodes.LOCKED_OUT]: ErrorCodes.LOCKED_OUT,
  [CloseCodes.FORBIDDEN]: ErrorCodes.FORBIDDEN,
  [CloseCodes.BAD_IDENTITY]: ErrorCodes.BAD_IDENTITY,
  [CloseCodes.DUPLICATE_CLIENT]: ErrorCodes.DUPLICATE_CLIENT,
  [CloseCodes.NOT_PRIMARY]: ErrorCodes.NOT_PRIMARY,
  [CloseCodes.CLUSTER_AUTH]: ErrorCodes.CLUSTER_AUTH,
  [CloseCodes.NOT_IN_CLUSTER]: ErrorCodes.NOT_IN_CLUSTER,
  [CloseCodes.TLS_REQUIRED]: ErrorCodes.TLS_REQUIRED,
  [CloseCodes.OPERATOR_REVOKED]: ErrorCodes.OPERATOR_REVOKED,
  [CloseCodes.DEVICE_REVOKED]: ErrorCodes.DEVICE_REVOKED,
  [CloseCodes.KEY_ROTATED]: ErrorCodes.KEY_ROTATED,
  1009: ErrorCodes.MESSAGE_TOO_BIG,
};

export function errorCodeForClose(code: number): ErrorCode | undefined {
  return closeCodeErrors[code];
}

const names = new Map<number, string>(Object.entries(CloseCodes).map(([name, code]) => [code, name.toLowerCase()]));

/** A stable, low-cardinality label for a close code (metrics, logs). */
export function closeCodeName(code: number): string {
  return names.get(code) ?? String(code);
}
