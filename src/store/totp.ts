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

export function currentTotp(secret: string): string {
  return authenticator.generate(secret);
}
