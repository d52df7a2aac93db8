import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * A value only the holders of a secret can read: JSON under AES-256-GCM, with a key derived
 * (HKDF-SHA256) from the secret and a nonce, so each nonce has a key of its own.
 *
 * Cluster calls seal their replies with the cluster secret and the request's nonce. A reply can
 * carry the whole configuration (every key, and for the secondary the operators' password hashes
 * and TOTP seeds), and a call crosses either plain HTTP, to a server without TLS, or TLS without a
 * pin, since each server may have its own certificate: a man in the middle of either could read it.
 * Sealed, it stays as secret as the cluster secret itself.
 */
const CIPHER = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;

function keyFor(secret: string, nonce: string, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, nonce, purpose, 32));
}

export function seal(secret: string, nonce: string, purpose: string, value: unknown): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(CIPHER, keyFor(secret, nonce, purpose), iv);
  const body = Buffer.concat([cipher.update(JSON.stringify(value ?? null), 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
}

/** The sealed value; throws if it was not sealed with this secret, nonce and purpose, or was changed. */
export function unseal(secret: string, nonce: string, purpose: string, sealed: string): unknown {
  const raw = Buffer.from(sealed, 'base64url');
  if (raw.length < IV_BYTES + TAG_BYTES) throw new Error('sealed value too short');
  const decipher = createDecipheriv(CIPHER, keyFor(secret, nonce, purpose), raw.subarray(0, IV_BYTES));
  decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  const text = Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
  return JSON.parse(text) as unknown;
}
