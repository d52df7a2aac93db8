import {
  createHmac,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { z } from 'zod';
import { keyProof, newNonce, proofMatches } from './proof.js';
import { seal, unseal } from './sealed.js';

/**
 * Resume tickets: a client welcomed by a server of this cluster proves its identity on its next
 * hellos, at any server of the cluster, with an HMAC instead of an Ed25519 signature (whose
 * verification is most of a hello's CPU when a lost server's clients all come back at once).
 *
 * The ticket is a secret only the client and the cluster can compute: HMAC(resume key, id |
 * public key | issue time), the resume key derived from the cluster secret, so every server
 * derives it and none stores tickets. It is handed out at a welcome that followed a signed hello,
 * sealed under an X25519 agreement with a key the client made and signed in that hello: neither
 * an eavesdropper nor a man in the middle holding the connectivity key can read it, even on a
 * plain ws:// connection. (Sealed under the connectivity key instead, any key holder on the path
 * could read it and claim the id: what the identity key exists to prevent.)
 */

/** How long a ticket is accepted after it was issued; then the client signs a hello again. */
export const RESUME_TICKET_TTL_MS = 24 * 3600_000;
/** How far ahead of a server's clock the server that issued a ticket may have been. */
export const RESUME_MAX_SKEW_MS = 5 * 60_000;

const KEY_LABEL = 'switchboard-client-resume-v1';
const KEY_ID_LABEL = 'switchboard-client-resume-key-id';
const KEY_ID_LENGTH = 16;
const SEAL_PURPOSE = 'switchboard-resume-ticket';
const PROOF_PURPOSE = 'client-resume';
/** An X25519 public key, raw (32 bytes) in base64url. */
export const EXCHANGE_KEY = /^[A-Za-z0-9_-]{43}$/;

/** A server's means to issue and check tickets. */
export interface ResumeKeys {
  /** The HMAC key tickets are derived with: the same on every server of a cluster. */
  readonly mac: Buffer;
  /** Names `mac` without revealing it: a client only offers a ticket to a server with the same. */
  readonly id: string;
  /** This process's X25519 key, for sealing tickets to clients. */
  readonly exchange: KeyObject;
  readonly exchangePublic: string;
}

/** What a welcome carries to a client that asked for a ticket. */
export interface IssuedTicket {
  /** The resume key's id. */
  kid: string;
  /** Issue time (ms, the issuing server's clock). */
  at: number;
  /** The issuing server's X25519 public key. */
  server: string;
  salt: string;
  sealed: string;
}

/** What a client holds, in memory only. */
export interface HeldTicket {
  kid: string;
  at: number;
  secret: string;
  /** Until when (the client's clock) it offers the ticket. */
  until: number;
}

/** What a resumed hello carries instead of a signature. */
export interface ResumeProof {
  at: number;
  proof: string;
}

function rawExchangeKey(key: KeyObject): string {
  const der = key.export({ format: 'der', type: 'spki' });
  return der.subarray(der.length - 32).toString('base64url');
}

function sharedSecret(own: KeyObject, peer: string): string {
  if (!EXCHANGE_KEY.test(peer)) throw new Error('not an X25519 public key');
  const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: peer }, format: 'jwk' });
  return diffieHellman({ privateKey: own, publicKey }).toString('base64url');
}

/** An X25519 key pair: a server's per process, a client's per agent (what its signed hello names). */
export function newExchangeKey(): { privateKey: KeyObject; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  return { privateKey, publicKey: rawExchangeKey(publicKey) };
}

/** From the cluster secret when there is one (every server derives the same), else random per process. */
export function resumeKeys(clusterSecret: string | undefined): ResumeKeys {
  const mac = clusterSecret ? createHmac('sha256', clusterSecret).update(KEY_LABEL).digest() : randomBytes(32);
  const exchange = newExchangeKey();
  return {
    mac,
    id: createHmac('sha256', mac).update(KEY_ID_LABEL).digest('base64url').slice(0, KEY_ID_LENGTH),
    exchange: exchange.privateKey,
    exchangePublic: exchange.publicKey,
  };
}

function ticketSecret(mac: Buffer, id: string, publicKey: string, at: number): string {
  return createHmac('sha256', mac).update(`${id}\n${publicKey}\n${at}`).digest('base64url');
}

/**
 * A ticket for the client that proved `id` and `publicKey` with a signature covering
 * `clientExchange`; throws if `clientExchange` is not an X25519 public key.
 */
export function issueTicket(
  keys: ResumeKeys,
  id: string,
  publicKey: string,
  clientExchange: string,
  now: number,
): IssuedTicket {
  const salt = newNonce();
  const secret = ticketSecret(keys.mac, id, publicKey, now);
  return {
    kid: keys.id,
    at: now,
    server: keys.exchangePublic,
    salt,
    sealed: seal(sharedSecret(keys.exchange, clientExchange), `${salt}\n${id}`, SEAL_PURPOSE, { secret }),
  };
}

const Opened = z.object({ secret: z.string().min(16).max(128) });

/** The client's side: throws if the ticket was not sealed to this exchange key for this id. */
export function openTicket(ticket: IssuedTicket, exchange: KeyObject, id: string, now: number): HeldTicket {
  const shared = sharedSecret(exchange, ticket.server);
  const { secret } = Opened.parse(unseal(shared, `${ticket.salt}\n${id}`, SEAL_PURPOSE, ticket.sealed));
  // By the client's own clock, a skew allowance short of what the servers accept: a client whose
  // clock is off still stops offering it before they refuse it.
  return { kid: ticket.kid, at: ticket.at, secret, until: now + RESUME_TICKET_TTL_MS - RESUME_MAX_SKEW_MS };
}

/** Whether the client offers its ticket to a server that accepts tickets of `serverKeyId`. */
export function ticketUsable(
  ticket: HeldTicket | undefined,
  serverKeyId: string | undefined,
  now: number,
): ticket is HeldTicket {
  return ticket !== undefined && serverKeyId === ticket.kid && now < ticket.until;
}

export function resumeProof(ticket: HeldTicket, nonce: string, id: string): ResumeProof {
  return { at: ticket.at, proof: keyProof(ticket.secret, PROOF_PURPOSE, nonce, id) };
}

/** Why a resumed hello is refused, or undefined when its proof holds for this nonce, id and key. */
export function resumeRefusal(
  keys: ResumeKeys,
  id: string,
  publicKey: string,
  resume: ResumeProof,
  nonce: string,
  now: number,
): string | undefined {
  if (resume.at > now + RESUME_MAX_SKEW_MS) return 'ticket issued in the future';
  if (now - resume.at > RESUME_TICKET_TTL_MS) return 'ticket expired';
  const expected = keyProof(ticketSecret(keys.mac, id, publicKey, resume.at), PROOF_PURPOSE, nonce, id);
  return proofMatches(expected, resume.proof) ? undefined : 'ticket proof does not match';
}
