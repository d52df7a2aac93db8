import { ErrorCodes, type WireError } from '../protocol/errors.js';
import type { SessionTarget } from '../protocol/messages.js';
import { checkRelativePath } from './filePaths.js';

/**
 * The client's own say over what may reach its machine. It is set on the client's command line and
 * checked on the client: no server or control can widen it.
 */
export interface LocalPolicy {
  allowForward: ReadonlySet<number>;
  allowExec: boolean;
  /** The one directory `files` sessions may read and write in (--allow-files); none when absent. */
  allowFiles?: string;
  /** Interactive terminals (`--allow-shell`); absent means no. */
  allowShell?: boolean;
}

export function checkPolicy(policy: LocalPolicy, target: SessionTarget): WireError | undefined {
  if (target.kind === 'forward') {
    if (target.host !== undefined && target.host !== 'localhost' && target.host !== '127.0.0.1') {
      return {
        code: ErrorCodes.POLICY_REFUSED,
        message: `this client forwards only to its own machine, not ${target.host}`,
      };
    }
    if (!policy.allowForward.has(target.port)) {
      return {
        code: ErrorCodes.POLICY_REFUSED,
        message: `port ${target.port} is not in this client's --allow-forward list`,
      };
    }
    return undefined;
  }
  if (target.kind === 'files') {
    if (policy.allowFiles === undefined)
      return {
        code: ErrorCodes.POLICY_REFUSED,
        message: 'this client does not allow files (start it with --allow-files DIR)',
      };
    return checkRelativePath(target.path);
  }
  if (target.kind === 'shell')
    return policy.allowShell
      ? undefined
      : {
          code: ErrorCodes.POLICY_REFUSED,
          message: 'this client does not allow terminals (start it with --allow-shell)',
        };
  if (!policy.allowExec)
    return {
      code: ErrorCodes.POLICY_REFUSED,
      message: 'this client does not allow commands (start it with --allow-exec)',
    };
  return undefined;
}
