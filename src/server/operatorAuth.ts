import { CloseCodes } from '../protocol/closeCodes.js';
import type { Operator } from '../store/configStore.js';
import { verifyPassword } from '../store/passwords.js';
import { verifyTotp } from '../store/totp.js';
import type { ServerContext } from './context.js';

export type OperatorAuth =
  | { ok: true; operator: Operator }
  | { ok: false; closeCode: number; reason: string };

/**
 * Checks an operator's password (and TOTP code when enrolled), with lockout of the account and
 * the address after repeated failures. Shared by the control channel and the REST API.
 */
export async function authenticateOperator(
  ctx: Pick<ServerContext, 'store' | 'limiter' | 'logger' | 'config'>,
  attempt: { name?: string; password?: string; totp?: string; address: string },
): Promise<OperatorAuth> {
  const name = attempt.name ?? '';
  const subjects = [`op:${name}`, `ip:${attempt.address}`];
  const now = Date.now();
  ctx.limiter.setFreeAttempts(ctx.config.settings['lockout-attempts']);
  const wait = ctx.limiter.lockedFor(subjects, now);
  if (wait > 0) return { ok: false, closeCode: CloseCodes.LOCKED_OUT, reason: `too many failed logins; try again in ${Math.ceil(wait / 1000)} s` };
  if (!name || attempt.password === undefined) return { ok: false, closeCode: CloseCodes.LOGIN_REQUIRED, reason: 'operator name and password required' };
  const op = ctx.store.operatorSecrets(name);
  const passwordOk = op ? await verifyPassword(attempt.password, op.passwordHash) : false;
  const totpOk = !op?.totpSecret || (attempt.totp !== undefined && verifyTotp(op.totpSecret, attempt.totp));
  if (!op || !passwordOk || !totpOk) {
    ctx.limiter.fail(subjects, now);
    ctx.store.audit(name || '(none)', 'login.failed', { address: attempt.address, reason: !passwordOk ? 'password' : 'totp' });
    ctx.logger.warn({ operator: name, peer: attempt.address }, 'login failed');
    const reason = passwordOk && !totpOk ? (attempt.totp ? 'wrong TOTP code' : 'TOTP code required') : 'wrong operator name or password';
    return { ok: false, closeCode: CloseCodes.BAD_LOGIN, reason };
  }
  ctx.limiter.succeed(`op:${name}`);
  const { passwordHash: _p, totpSecret: _t, ...operator } = op;
  return { ok: true, operator };
}
