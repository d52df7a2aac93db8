import otplib from 'otplib';

const { authenticator } = otplib;
// One step either side: tolerates a phone clock 30 s off without widening the guess window much.
authenticator.options = { window: 1 };

export function newTotpSecret(): string {
  return authenticator.generateSecret();
}

export function totpUri(operator: string, secret: string, issuer = 'Switchboard'): string {
  return authenticator.keyuri(operator, issuer, secret);
}

export function verifyTotp(secret: string, code: string): boolean {
  try {
    return authenticator.check(code.replace(/\s/g, ''), secret);
  } catch {
    return false;
  }
}

/** Seconds per code: otplib's default, which authenticator apps use. */
const STEP_SECONDS = 30;

/**
 * The time step (the 30 s slot counted from the epoch) that a right code belongs to, within the
 * window; undefined for a wrong code. Lets the caller accept each code only once.
 */
export function totpStep(secret: string, code: string, now = Date.now()): number | undefined {
  try {
    const delta = authenticator.clone({ epoch: now }).checkDelta(code.replace(/\s/g, ''), secret);
    return delta === null ? undefined : Math.floor(now / 1000 / STEP_SECONDS) + delta;
  } catch {
    return undefined;
  }
}

export function currentTotp(secret: string): string {
  return authenticator.generate(secret);
}
