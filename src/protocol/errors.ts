/**
 * Every failure that crosses a process boundary has a stable code, so that scripts, tests and the
 * console can react to it without parsing prose. The message is for people.
 */
export const ErrorCodes = {
  BAD_KEY: 'SB_ERR_BAD_KEY',
  BAD_IDENTITY: 'SB_ERR_BAD_IDENTITY',
  BAD_MESSAGE: 'SB_ERR_BAD_MESSAGE',
  MESSAGE_TOO_BIG: 'SB_ERR_MESSAGE_TOO_BIG',
  HELLO_TIMEOUT: 'SB_ERR_HELLO_TIMEOUT',
  LOGIN_REQUIRED: 'SB_ERR_LOGIN_REQUIRED',
  BAD_LOGIN: 'SB_ERR_BAD_LOGIN',
  LOCKED_OUT: 'SB_ERR_LOCKED_OUT',
  FORBIDDEN: 'SB_ERR_FORBIDDEN',
  DUPLICATE_CLIENT: 'SB_ERR_DUPLICATE_CLIENT',
  UNKNOWN_CLIENT: 'SB_ERR_UNKNOWN_CLIENT',
  AMBIGUOUS_CLIENT: 'SB_ERR_AMBIGUOUS_CLIENT',
  POLICY_REFUSED: 'SB_ERR_POLICY_REFUSED',
  CONNECT_FAILED: 'SB_ERR_CONNECT_FAILED',
  SESSION_TIMEOUT: 'SB_ERR_SESSION_TIMEOUT',
  BAD_TICKET: 'SB_ERR_BAD_TICKET',
  TOO_MANY_SESSIONS: 'SB_ERR_TOO_MANY_SESSIONS',
  NOT_PRIMARY: 'SB_ERR_NOT_PRIMARY',
  TLS_REQUIRED: 'SB_ERR_TLS_REQUIRED',
  TLS_MISMATCH: 'SB_ERR_TLS_MISMATCH',
  ACME_FAILED: 'SB_ERR_ACME_FAILED',
  PROXY_FAILED: 'SB_ERR_PROXY_FAILED',
  UNREACHABLE: 'SB_ERR_UNREACHABLE',
  CLUSTER_AUTH: 'SB_ERR_CLUSTER_AUTH',
  NOT_IN_CLUSTER: 'SB_ERR_NOT_IN_CLUSTER',
  CONFIG: 'SB_ERR_CONFIG',
  NOT_FOUND: 'SB_ERR_NOT_FOUND',
  CSRF: 'SB_ERR_CSRF',
  SHUTTING_DOWN: 'SB_ERR_SHUTTING_DOWN',
  BUSY: 'SB_ERR_BUSY',
  /** The server holds as many clients as its `max-clients` allows: try another server, or later. */
  SERVER_FULL: 'SB_ERR_SERVER_FULL',
  /** The data directory's disk is full: a configuration change was not saved. */
  STORE_FULL: 'SB_ERR_STORE_FULL',
  /** Another server runs on this data directory. */
  DATA_LOCKED: 'SB_ERR_DATA_LOCKED',
  INTERNAL: 'SB_ERR_INTERNAL',
  /** A client refused a session for a reason that is not one of the refusals a client may give. */
  CLIENT_REFUSED: 'SB_ERR_CLIENT_REFUSED',
  /** The operator was removed, its password or TOTP changed, or it may no longer use the key, since it logged in. */
  OPERATOR_REVOKED: 'SB_ERR_OPERATOR_REVOKED',
  /** A file session failed on the client: no such file, not a regular file, disk full, cut in the middle. */
  FILE_FAILED: 'SB_ERR_FILE_FAILED',
  /** A copied file's SHA-256 at one end is not the other end's: nothing was kept under the final name. */
  INTEGRITY: 'SB_ERR_INTEGRITY',
  /** An admin revoked this device (client identity): every server refuses it at its hello. */
  DEVICE_REVOKED: 'SB_ERR_DEVICE_REVOKED',
  /** No known device has that id. */
  UNKNOWN_DEVICE: 'SB_ERR_UNKNOWN_DEVICE',
  /** The change asked for is the device's or key's state already, or cannot follow it (revoking twice, approving a device that is not pending, rotating a key whose successor is pending). */
  STATE_CONFLICT: 'SB_ERR_STATE_CONFLICT',
  /** The client proved a key secret that was rotated and retired: it needs the key's new secret. */
  KEY_ROTATED: 'SB_ERR_KEY_ROTATED',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

const knownCodes: ReadonlySet<string> = new Set(Object.values(ErrorCodes));

/** Whether a code from the wire is one of ours (a peer may send anything). */
export function isErrorCode(code: string): code is ErrorCode {
  return knownCodes.has(code);
}

export class SwitchboardError extends Error {
  readonly code: ErrorCode;
  /** A busy server's hint: how long to wait before trying again. */
  retryAfterMs?: number;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'SwitchboardError';
    this.code = code;
  }
}

export interface WireError {
  code: string;
  message: string;
}

export function toWireError(err: unknown): WireError {
  if (err instanceof SwitchboardError) return { code: err.code, message: err.message };
  return { code: ErrorCodes.INTERNAL, message: err instanceof Error ? err.message : String(err) };
}

/**
 * An error a peer sent, as ours: its code checked against the known codes (a peer may send
 * anything), `fallback` for one that is not ours, so no caller trusts a cast.
 */
export function fromWireError(error: WireError, fallback: ErrorCode = ErrorCodes.INTERNAL): SwitchboardError {
  return new SwitchboardError(isErrorCode(error.code) ? error.code : fallback, error.message);
}
