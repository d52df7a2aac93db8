import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

/**
 * A client's id is derived from its own Ed25519 public key, and every hello is signed with the
 * private key. An id therefore cannot be claimed by another machine, even one holding the same
 * connectivity key, and no server needs to remember pins: the id is its own pin.
 */
export const CLIENT_ID_LENGTH = 26;

export function clientIdFor(publicKeyRaw: Buffer): string {
  return createHash('sha256').update(publicKeyRaw).digest('base64url').slice(0, CLIENT_ID_LENGTH);
}

export function rawPublicKey(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  return Buffer.from(jwk.x as string, 'base64url');
}

function identityText(nonce: string, id: string): Buffer {
  return Buffer.from(`switchboard-client-identity\n${nonce}\n${id}`);
}

export function signIdentity(privateKey: KeyObject, nonce: string, id: string): string {
  return sign(null, identityText(nonce, id), privateKey).toString('base64url');
}

/** Checks that the hello's id belongs to its public key and that the key signed this nonce. */
export function verifyIdentity(id: string, publicKey: string, signature: string, nonce: string): boolean {
  try {
    const raw = Buffer.from(publicKey, 'base64url');
    if (raw.length !== 32 || clientIdFor(raw) !== id) return false;
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: publicKey }, format: 'jwk' });
    return verify(null, identityText(nonce, id), key, Buffer.from(signature, 'base64url'));
  } catch {
    return false;
  }
}
