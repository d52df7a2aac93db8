import { createHash } from 'node:crypto';
import type { ConfigStore, OperatorSecrets } from '../store/configStore.js';

/**
 * What a login proved, as one value: a digest of the operator's password hash and TOTP secret. A
 * login keeps the stamp it was granted with; when the stored operator's stamp differs (password or
 * TOTP changed: here, offline, or replicated from the primary) or the operator is gone, what that
 * login opened (API tokens, control channels, unclaimed sessions) ends, and the operator logs in
 * again. Role and keys are not in it: they are read from the store at each request, so a narrower
 * scope applies at once and a wider one needs no new login; a control channel whose key the
 * operator may no longer use is closed (controlHandler.ts controlRevokedBecause).
 */
export function credentialStamp(op: OperatorSecrets): string {
  return createHash('sha256')
    .update(JSON.stringify([op.passwordHash, op.totpSecret ?? '']))
    .digest('base64url');
}

/** Who a login was: an operator with its stamp, or (no operator existed then) a key alone. */
export interface GrantedLogin {
  operator: string;
  stamp: string;
}

/** Why a login no longer holds under the store as it is now, or undefined while it holds. */
export function revokedBecause(
  login: GrantedLogin,
  store: Pick<ConfigStore, 'operatorSecrets' | 'operatorCount'>,
): string | undefined {
  if (!login.operator) return store.operatorCount() > 0 ? 'operators now exist: log in as one' : undefined;
  const op = store.operatorSecrets(login.operator);
  if (!op) return `operator ${login.operator} was removed`;
  if (credentialStamp(op) !== login.stamp) return `operator ${login.operator}'s password or TOTP changed: log in again`;
  return undefined;
}
