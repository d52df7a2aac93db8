import { z } from 'zod';
import { newNonce } from './proof.js';
import { seal, unseal } from './sealed.js';

/**
 * A rotated key's new secret, handed to a client that proved the old one. It is sealed under the
 * old secret (which only that client and the servers hold) and bound to the client's id, so it
 * crosses a plain connection as safely as a TLS one, and a handover meant for one client opens for
 * no other identity.
 */
const PURPOSE = 'switchboard-key-handover';

export interface KeyHandover {
  type: 'key-rotated';
  /** The key's name. */
  key: string;
  salt: string;
  sealed: string;
}

export function sealKeyHandover(name: string, oldSecret: string, newSecret: string, clientId: string): KeyHandover {
  const salt = newNonce();
  return {
    type: 'key-rotated',
    key: name,
    salt,
    sealed: seal(oldSecret, `${salt}\n${clientId}`, PURPOSE, { newSecret }),
  };
}

const Opened = z.object({ newSecret: z.string().min(8).max(256) });

/** The new secret; throws if the handover was not sealed with this secret for this client. */
export function openKeyHandover(handover: KeyHandover, oldSecret: string, clientId: string): string {
  return Opened.parse(unseal(oldSecret, `${handover.salt}\n${clientId}`, PURPOSE, handover.sealed)).newSecret;
}
