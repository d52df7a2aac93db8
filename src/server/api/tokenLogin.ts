import type { ConfigStore, Operator } from '../../store/configStore.js';
import { revokedBecause } from '../credentialStamp.js';
import type { SessionTable } from './sessionTable.js';

/**
 * The operator behind an API session token, for a control that logs in with the token a
 * `control login` kept instead of a password: the same session as a bearer token on the API
 * (counted as a use, so it stays alive while used), the operator as the store has it now.
 * Undefined when the token is unknown, expired or logged out, or its operator is gone or changed its
 * password or TOTP since (credentialStamp.ts): the control's login then keeps the session's stamp.
 */
export function operatorOfToken(
  token: string,
  sessions: SessionTable,
  store: ConfigStore,
  now: number,
): { operator: Operator; expiresAt: number; stamp: string } | undefined {
  const session = sessions.touch(token, now);
  if (!session) return undefined;
  const operator = store.operators().find((o) => o.name === session.operator);
  if (!operator || revokedBecause(session, store)) {
    sessions.forget(token);
    return undefined;
  }
  return { operator, expiresAt: sessions.expiresAt(session), stamp: session.stamp };
}
