import { createHash } from 'node:crypto';
import type { ConfigStore, OperatorSecrets } from '../store/configStore.js';

/**
 * What a login proved, as one value: a digest of the operator's password hash, TOTP secret, role
 * and keys. A login keeps the stamp it was granted with; when the stored operator's stamp differs
 * (password, TOTP, role or keys changed) or the operator is gone, what that login opened (API
 * tokens, control channels, unclaimed sessions) ends, and the operator logs in again.
 */
export function credentialStamp(op: OperatorSecrets): string {
  return createHash('sha256')
    .update(JSON.stringify([op.passwordHash, op.totpSecret ?? '', op.role, [...op.keys].sort()]))
    .digest('base64url');
}

/** Who a login was: an operator with its stamp, or (no operator existed then) a key alone. */
export interface GrantedLogin {
  operator: string;
  stamp: string;
}

/** Why a login no longer holds under the store as it is now, or undefined while it holds. */
export function revokedBecause(login: GrantedLogin, store: Pick<ConfigStore, 'operatorSecrets' | 'operatorCount'>): string | undefined {
  if (!login.operator) return store.operatorCount() > 0 ? 'operators now exist: log in as one' : undefined;
  const op = store.operatorSecrets(login.operator);
  if (!op) return `operator ${login.operator} was removed`;
  if (credentialStamp(op) !== login.stamp) return `operator ${login.operator}'s password, TOTP, role or keys changed: log in again`;
  return undefined;
}
