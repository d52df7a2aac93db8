import { createHash, X509Certificate } from 'node:crypto';
import { ErrorCodes, SwitchboardError } from '../protocol/errors.js';

/**
 * Certificate pins. A pin is either
 *  - the SHA-256 of the whole certificate, hex with or without colons (`27:0C:A4:...`), the
 *    fingerprint Switchboard has always printed: it changes at every renewal; or
 *  - the SHA-256 of the certificate's public key (its DER SubjectPublicKeyInfo), written
 *    `spki:sha256/BASE64` (also `sha256/BASE64`, curl's `sha256//BASE64`, or `spki:HEX`): it
 *    stays the same across renewals that keep the key, which ACME renewals here do.
 * A 64-hex-digit pin without `spki:` matches either hash: the two cannot collide, and a server's
 * SPKI hash can then travel where only a fingerprint fitted before (the cluster's join message).
 * Several pins, separated by commas, trust a server that matches any of them: the way to roll a key
 * (pin the old and the new key while the change goes round).
 */
export interface PinSet {
  /** Hex SHA-256 of certificates or public keys (a bare hex pin may be either). */
  readonly either: ReadonlySet<string>;
  /** Hex SHA-256 of public keys only. */
  readonly spki: ReadonlySet<string>;
}

const HEX_PIN = /^[0-9a-fA-F]{64}$/;
const BASE64_PIN = /^[A-Za-z0-9+/]{43}=$/;

function parseOne(text: string): { hex: string; spkiOnly: boolean } {
  const pin = text.trim();
  const hex = pin.replace(/:/g, '');
  // Any run of hex digits and colons is a fingerprint, as it always was: a wrong one (too short,
  // mistyped) is refused at the handshake with the certificate's real pins, not here.
  if (/^[0-9a-fA-F]+$/.test(hex) && !pin.startsWith('spki:')) return { hex: hex.toUpperCase(), spkiOnly: false };
  const body = pin.replace(/^spki:/, '');
  // `sha256/` then the base64, which may itself begin with a slash; curl writes `sha256//BASE64`.
  let b64 = body.replace(/^sha256\//, '');
  if (!BASE64_PIN.test(b64) && b64.startsWith('/') && BASE64_PIN.test(b64.slice(1))) b64 = b64.slice(1);
  if (b64 !== body || pin.startsWith('spki:')) {
    if (BASE64_PIN.test(b64)) return { hex: Buffer.from(b64, 'base64').toString('hex').toUpperCase(), spkiOnly: true };
    if (HEX_PIN.test(b64.replace(/:/g, ''))) return { hex: b64.replace(/:/g, '').toUpperCase(), spkiOnly: true };
  }
  throw new SwitchboardError(
    ErrorCodes.CONFIG,
    `not a certificate pin: ${JSON.stringify(pin.slice(0, 100))} (give the SHA-256 fingerprint as hex, or the public key's pin as spki:sha256/BASE64)`,
  );
}

/** Parses a comma-separated list of pins; throws a clear SB_ERR_CONFIG on anything else. */
export function parsePins(text: string): PinSet {
  const either = new Set<string>();
  const spki = new Set<string>();
  const parts = text.split(',').filter((p) => p.trim() !== '');
  if (parts.length === 0) throw new SwitchboardError(ErrorCodes.CONFIG, 'an empty certificate pin');
  if (parts.length > 32) throw new SwitchboardError(ErrorCodes.CONFIG, 'at most 32 certificate pins');
  for (const part of parts) {
    const { hex, spkiOnly } = parseOne(part);
    (spkiOnly ? spki : either).add(hex);
  }
  return { either, spki };
}

/** True if `text` is a valid pin list. */
export function isPinList(text: string): boolean {
  try {
    parsePins(text);
    return true;
  } catch {
    return false;
  }
}

/** Joins pin lists (each may be undefined): a server matching any is trusted. */
export function joinPins(...lists: (string | undefined)[]): string | undefined {
  const parts = lists.filter((l): l is string => Boolean(l && l.trim()));
  return parts.length ? parts.join(',') : undefined;
}

function certificateOf(cert: X509Certificate | string | Buffer): X509Certificate {
  return cert instanceof X509Certificate ? cert : new X509Certificate(cert);
}

/** Hex SHA-256 of a certificate's DER SubjectPublicKeyInfo. */
export function spkiHash(cert: X509Certificate | string | Buffer): string {
  const der = certificateOf(cert).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex').toUpperCase();
}

/** The public key's pin as Switchboard prints it: `spki:sha256/BASE64`. */
export function spkiPin(cert: X509Certificate | string | Buffer): string {
  return `spki:sha256/${Buffer.from(spkiHash(cert), 'hex').toString('base64')}`;
}

/** The pin of a public key given alone (a key about to replace the current one). */
export function spkiPinOfKey(publicKeyDer: Buffer): string {
  return `spki:sha256/${createHash('sha256').update(publicKeyDer).digest('base64')}`;
}

/** Hex with colons, as Node prints fingerprint256: what a cluster's join message carries. */
export function colonHex(hex: string): string {
  return hex.match(/../g)!.join(':');
}

/**
 * Does the certificate (DER, as a TLS peer presents it) match any pin? The certificate's own
 * fingerprint and its public key's hash are both compared.
 */
export function pinsMatch(pins: PinSet, certDer: Buffer): boolean {
  const fingerprint = createHash('sha256').update(certDer).digest('hex').toUpperCase();
  if (pins.either.has(fingerprint)) return true;
  if (pins.either.size === 0 && pins.spki.size === 0) return false;
  const key = spkiHash(certDer);
  return pins.either.has(key) || pins.spki.has(key);
}

/** How many servers' pins one process keeps: far more than a cluster has, and bounded. */
const MAX_VOUCHED = 1024;

/**
 * Pins vouched for by a server we already trust, by address: a primary vouches for its members
 * (each announced its key over its authenticated cluster link) and for its secondary, so a client
 * or control pinned to the primary alone can follow a redirect, or fail over, to them. A vouched
 * pin is trusted for its address only, beside whatever the user configured.
 */
export class VouchedPins {
  private readonly byAddress = new Map<string, string>();

  /** Records `pins` for `address` (invalid or missing ones are ignored); true if anything changed. */
  learn(address: string, pins: string | undefined): boolean {
    if (!pins || !isPinList(pins) || this.byAddress.get(address) === pins) return false;
    if (!this.byAddress.has(address) && this.byAddress.size >= MAX_VOUCHED) return false;
    this.byAddress.set(address, pins);
    return true;
  }

  learnAll(pins: Record<string, string> | undefined): boolean {
    let changed = false;
    for (const [address, pin] of Object.entries(pins ?? {})) changed = this.learn(address, pin) || changed;
    return changed;
  }

  get(address: string): string | undefined {
    return this.byAddress.get(address);
  }

  /** The pins of these addresses that are known, as a wire record. */
  pick(addresses: (string | undefined)[]): Record<string, string> | undefined {
    const out: Record<string, string> = {};
    for (const a of addresses) if (a && this.byAddress.has(a)) out[a] = this.byAddress.get(a)!;
    return Object.keys(out).length ? out : undefined;
  }

  toJSON(): Record<string, string> {
    return Object.fromEntries(this.byAddress);
  }

  /** The dial options' pins for `address`: the user's, and the one vouched for it. */
  forAddress(userPins: string | undefined, address: string): string | undefined {
    return joinPins(userPins, this.byAddress.get(address));
  }
}

/**
 * When to repeat a warning about one server's certificate: a refusal retried for ever (a member's
 * link, a client's dial) says what to fix once, then again only every `intervalMs`, never at each retry.
 */
export class WarnEvery {
  private readonly last = new Map<string, number>();
  constructor(private readonly intervalMs: number) {}

  due(subject: string, now: number): boolean {
    const last = this.last.get(subject);
    if (last !== undefined && now - last < this.intervalMs) return false;
    if (this.last.size >= MAX_VOUCHED) this.last.clear();
    this.last.set(subject, now);
    return true;
  }
}

/** The pins known for these addresses (`pinOf` says which), for a message that vouches for them; none → undefined. */
export function knownPins(
  addresses: readonly (string | undefined)[],
  pinOf: (address: string) => string | undefined,
): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const a of addresses) {
    const pin = a && pinOf(a);
    if (a && pin) out[a] = pin;
  }
  return Object.keys(out).length ? out : undefined;
}
