import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { clientIdFor, rawPublicKey, signIdentity } from '../protocol/clientIdentity.js';

/** A client's identity: its key pair, and the id derived from the public half. */
export interface ClientIdentity {
  id: string;
  publicKey: string;
  /** Signs a hello for this nonce (and the X25519 key a resume ticket is to be sealed to, if any). */
  sign(nonce: string, ticketKey?: string): string;
}

function identityOf(privateKey: KeyObject): ClientIdentity {
  const raw = rawPublicKey(createPublicKey(privateKey));
  const id = clientIdFor(raw);
  return {
    id,
    publicKey: raw.toString('base64url'),
    sign: (nonce, ticketKey) => signIdentity(privateKey, nonce, id, ticketKey),
  };
}

/**
 * A new key pair whose id does not begin with '-': an id is typed as a command-line word
 * (`control exec ID`, `device approve ID`), where a leading '-' reads as an option. One key pair in
 * 64 is drawn again; the id is still the hash of the key, so every server, of any version, derives
 * the same. Ids made before this rule keep working: the CLI takes them after `--`.
 */
function newPrivateKey(): KeyObject {
  for (;;) {
    const { privateKey } = generateKeyPairSync('ed25519');
    if (!clientIdFor(rawPublicKey(createPublicKey(privateKey))).startsWith('-')) return privateKey;
  }
}

export function newIdentity(): ClientIdentity {
  return identityOf(newPrivateKey());
}

/** The identity survives restarts: the key pair is made once and kept (owner-only) in the state directory. */
export function loadOrCreateIdentity(stateDir: string): ClientIdentity {
  const file = join(stateDir, 'client-key.pem');
  try {
    return identityOf(createPrivateKey(readFileSync(file, 'utf8')));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new Error(`cannot read the client identity ${file}: ${(err as Error).message}`, { cause: err });
  }
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const privateKey = newPrivateKey();
  writeFileSync(file, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  return identityOf(privateKey);
}
