import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

/**
 * A client's id is derived from its own Ed25519 public key, and every hello is signed with the
 * private key. An id therefore cannot be claimed by another machine, even one holding the same
 * connectivity key, and no server needs to remember pins: the id is its own pin.
 */
export const CLIENT_ID_LENGTH = 26;

const CLIENT_ID_SHAPE = new RegExp(`^[A-Za-z0-9_-]{${CLIENT_ID_LENGTH}}$`);

/**
 * Whether a string has the shape of a client id (what clientIdFor makes). Such a string is looked up
 * only as an id, never as a name: otherwise a client could name itself after another's id.
 */
export function looksLikeClientId(text: string): boolean {
  return CLIENT_ID_SHAPE.test(text);
}

export function clientIdFor(publicKeyRaw: Buffer): string {
  return createHash('sha256').update(publicKeyRaw).digest('base64url').slice(0, CLIENT_ID_LENGTH);
}

/**
 * The raw 32-byte key: the end of its SubjectPublicKeyInfo DER (a fixed 12-byte header, then the key).
 * Not the JWK export: on Node 20, exporting an Ed25519 key as JWK holds the key's mutex while it
 * allocates, and a garbage collection that finalizes the generateKeyPairSync job takes the same
 * mutex: the process hangs for good, about once in 100,000 key pairs (bench clients, tests).
 */
export function rawPublicKey(key: KeyObject): Buffer {
  const der = key.export({ format: 'der', type: 'spki' });
  return Buffer.from(der.subarray(der.length - 32));
}

/**
 * What a hello signs. `ticketKey` (the X25519 key a resume ticket is sealed to, resumeTicket.ts)
 * is signed too when the hello names one, so that no one on the path can swap in a key of theirs
 * and have the client's ticket sealed to them.
 */
function identityText(nonce: string, id: string, ticketKey?: string): Buffer {
  const text = `switchboard-client-identity\n${nonce}\n${id}`;
  return Buffer.from(ticketKey === undefined ? text : `${text}\n${ticketKey}`);
}

export function signIdentity(privateKey: KeyObject, nonce: string, id: string, ticketKey?: string): string {
  return sign(null, identityText(nonce, id, ticketKey), privateKey).toString('base64url');
}

/**
 * Checks that the hello's id is derived from its public key: a hash, cheap. It does not show that
 * the client holds the private key; verifyIdentity does.
 */
export function idMatchesKey(id: string, publicKey: string): boolean {
  const raw = Buffer.from(publicKey, 'base64url');
  return raw.length === 32 && clientIdFor(raw) === id;
}

/**
 * Checks that the hello's id belongs to its public key and that the key signed this nonce. The
 * signature check is most of a hello's CPU (about 0.2 ms); importing the key from JWK is a tenth of
 * it, and cheaper than from DER (measured on Node 20: 0.22 ms against 0.38 ms per verification).
 */
export function verifyIdentity(
  id: string,
  publicKey: string,
  signature: string,
  nonce: string,
  ticketKey?: string,
): boolean {
  try {
    if (!idMatchesKey(id, publicKey)) return false;
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: publicKey }, format: 'jwk' });
    return verify(null, identityText(nonce, id, ticketKey), key, Buffer.from(signature, 'base64url'));
  } catch {
    return false;
  }
}
