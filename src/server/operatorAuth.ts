import { CloseCodes } from '../protocol/closeCodes.js';
import type { Operator } from '../store/configStore.js';
import { dummyPasswordHash, verifyPassword } from '../store/passwords.js';
import { totpStep } from '../store/totp.js';
import { credentialStamp } from './credentialStamp.js';
import type { ServerContext } from './context.js';
import { MAX_LOGINS_IN_FLIGHT_PER_ACCOUNT, MAX_LOGINS_IN_FLIGHT_PER_ADDRESS } from './loginLimiter.js';

export type OperatorAuth =
  { ok: true; operator: Operator; stamp: string } | { ok: false; closeCode: number; reason: string };

export type PasswordVerifier = (password: string, stored: string) => Promise<boolean>;

/**
 * Checks an operator's password (and TOTP code when enrolled), with lockout of the account and
 * the address after repeated failures. Shared by the control channel and the REST API.
 *
 * The attempt is counted before the password is hashed (see LoginLimiter.begin), so parallel
 * guesses do not each get a free try; an unknown name is hashed against a dummy, so it takes the
 * same path as a known one; a TOTP code is accepted once per operator.
 */
export async function authenticateOperator(
  ctx: Pick<ServerContext, 'store' | 'limiter' | 'logger' | 'config' | 'totpSteps'>,
  attempt: { name?: string; password?: string; totp?: string; address: string },
  verify: PasswordVerifier = verifyPassword,
): Promise<OperatorAuth> {
  const name = attempt.name ?? '';
  const now = Date.now();
  ctx.limiter.setFreeAttempts(ctx.config.settings['lockout-attempts']);
  if (!name || attempt.password === undefined) {
    const wait = ctx.limiter.lockedFor([`op:${name}`, `ip:${attempt.address}`], now);
    if (wait > 0) return lockedOut(wait);
    return { ok: false, closeCode: CloseCodes.LOGIN_REQUIRED, reason: 'operator name and password required' };
  }
  const admission = ctx.limiter.begin(
    [
      { id: `op:${name}`, maxInFlight: MAX_LOGINS_IN_FLIGHT_PER_ACCOUNT },
      { id: `ip:${attempt.address}`, maxInFlight: MAX_LOGINS_IN_FLIGHT_PER_ADDRESS },
    ],
    now,
  );
  if (!admission.ok) {
    if ('lockedForMs' in admission) return lockedOut(admission.lockedForMs);
    const which = admission.busy.startsWith('op:') ? 'this account' : 'this address';
    return {
      ok: false,
      closeCode: CloseCodes.LOCKED_OUT,
      reason: `too many logins at once for ${which}; try again in a moment`,
    };
  }
  let succeeded = false;
  try {
    const op = ctx.store.operatorSecrets(name);
    const passwordOk =
      (await verify(attempt.password, op?.passwordHash ?? (await dummyPasswordHash()))) && op !== undefined;
    // Checked and remembered in one synchronous step after the await: two logins with one code
    // cannot both pass.
    const step = op?.totpSecret && attempt.totp !== undefined ? totpStep(op.totpSecret, attempt.totp) : undefined;
    const replayed = passwordOk && step !== undefined && !ctx.totpSteps.accept(name, step);
    const totpOk = !op?.totpSecret || (step !== undefined && !replayed);
    if (!op || !passwordOk || !totpOk) {
      ctx.store.audit(name, 'login.failed', {
        address: attempt.address,
        reason: !passwordOk ? 'password' : replayed ? 'totp-replay' : 'totp',
      });
      ctx.logger.warn({ operator: name, peer: attempt.address }, 'login failed');
      const reason = !passwordOk
        ? 'wrong operator name or password'
        : replayed
          ? 'TOTP code already used; wait for the next one'
          : attempt.totp
            ? 'wrong TOTP code'
            : 'TOTP code required';
      return { ok: false, closeCode: CloseCodes.BAD_LOGIN, reason };
    }
    succeeded = true;
    ctx.limiter.succeed(`op:${name}`);
    const { passwordHash: _p, totpSecret: _t, ...operator } = op;
    return { ok: true, operator, stamp: credentialStamp(op) };
  } finally {
    admission.finish(succeeded);
  }
}

function lockedOut(waitMs: number): OperatorAuth {
  return {
    ok: false,
    closeCode: CloseCodes.LOCKED_OUT,
    reason: `too many failed logins; try again in ${Math.ceil(waitMs / 1000)} s`,
  };
}
