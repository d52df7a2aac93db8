import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * A key is proven, never sent: the server sends a fresh nonce, the peer answers with
 * HMAC-SHA256(key, purpose | nonce | identity). Binding the purpose and identity stops a proof made
 * for one client id (or for a control) being replayed as another.
 */
export function newNonce(): string {
  return randomBytes(24).toString('base64url');
}

export function newSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

export function keyProof(key: string, purpose: string, nonce: string, identity: string): string {
  return createHmac('sha256', key).update(`${purpose}\n${nonce}\n${identity}`).digest('base64url');
}

export function proofMatches(expected: string, given: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Finds which of the known keys produced the proof, if any. */
export function findProvenKey<K extends { value: string }>(
  keys: Iterable<K>,
  purpose: string,
  nonce: string,
  identity: string,
  proof: string,
): K | undefined {
  for (const key of keys) {
    if (proofMatches(keyProof(key.value, purpose, nonce, identity), proof)) return key;
  }
  return undefined;
}
