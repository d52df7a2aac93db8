import { ErrorCodes, SwitchboardError, type ErrorCode, type WireError } from '../protocol/errors.js';

/**
 * The refusals a client may give for a session (see src/client/agent.ts and sessionRunner.ts): its
 * policy says no, its local service refused, or it has too many sessions. A client is not the
 * server: any other code it sends (a login or permission code, say, which would make the API answer
 * 401) becomes the one generic CLIENT_REFUSED.
 */
const CLIENT_REFUSAL_CODES: ReadonlySet<ErrorCode> = new Set([
  ErrorCodes.POLICY_REFUSED,
  ErrorCodes.CONNECT_FAILED,
  ErrorCodes.TOO_MANY_SESSIONS,
  ErrorCodes.FILE_FAILED,
]);

/** A client's reason is kept to this many characters: enough for a port and an OS error. */
export const MAX_CLIENT_REFUSAL_TEXT = 200;

/** Control and format characters (escape sequences, bidi overrides, line breaks) a client might put in its words. */
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]+/gu;

/**
 * A client's refusal as the error its control sees: one of the codes a client may use, and its
 * words marked as its own (prefixed, printable, bounded), never passed off as the server's.
 */
export function clientRefusal(error: WireError): SwitchboardError {
  const code = (CLIENT_REFUSAL_CODES as ReadonlySet<string>).has(error.code)
    ? (error.code as ErrorCode)
    : ErrorCodes.CLIENT_REFUSED;
  const words = [...error.message.replace(UNPRINTABLE, ' ').trim()];
  const text =
    words.length > MAX_CLIENT_REFUSAL_TEXT ? `${words.slice(0, MAX_CLIENT_REFUSAL_TEXT).join('')}…` : words.join('');
  return new SwitchboardError(code, `client refused: ${text || '(no reason given)'}`);
}
