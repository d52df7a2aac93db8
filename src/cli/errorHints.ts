import { looksLikeClientId } from '../protocol/clientIdentity.js';
import { ErrorCodes } from '../protocol/errors.js';

/** Refusals of a device or key change that scripts tell apart by their code, printed with it. */
const CODE_SHOWN: ReadonlySet<string> = new Set([
  ErrorCodes.UNKNOWN_DEVICE,
  ErrorCodes.STATE_CONFLICT,
  ErrorCodes.DEVICE_REVOKED,
  ErrorCodes.KEY_ROTATED,
]);

/**
 * The line the CLI prints for an error it stops on, with what to do when the error is a login
 * the command line can fix: the flags that carry a login are named.
 */
export function cliErrorLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | undefined)?.code;
  const hint =
    code === ErrorCodes.LOGIN_REQUIRED
      ? 'this server has operators: log in with --operator NAME and --password-env VAR (or --password-stdin)'
      : code === ErrorCodes.BAD_LOGIN && /TOTP/i.test(message)
        ? "give the operator's current TOTP code: --totp CODE"
        : code === ErrorCodes.BAD_LOGIN
          ? 'check --operator NAME and the password given by --password-env VAR or --password-stdin'
          : code === ErrorCodes.BAD_KEY
            ? "check --key / --key-file against the server's keys (switchboard config key list)"
            : undefined;
  if (typeof code === 'string' && CODE_SHOWN.has(code)) return `${message} [${code}]`;
  return hint ? `${message} (${hint})` : message;
}

/**
 * What to add when the command line was refused for an unknown option that is a client id: an
 * identity made before 0.3 may have an id that begins with '-' (newer ones never do), and `--`
 * ends the options.
 */
export function unknownOptionHint(commanderMessage: string): string | undefined {
  const word = /unknown option '(.*)'/.exec(commanderMessage)?.[1];
  if (word === undefined || !looksLikeClientId(word)) return undefined;
  return `if ${word} is a client id, write -- before it: control exec -- ID -- COMMAND, config device approve -- ID`;
}
