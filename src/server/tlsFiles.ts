import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { colonHex, spkiHash, spkiPin } from '../net/pins.js';

export interface TlsMaterial {
  cert: string;
  key: string;
  /** SHA-256 of the certificate, colon-separated hex, as clients pin it. */
  fingerprint: string;
  /** SHA-256 of the certificate's public key, `spki:sha256/BASE64`: the pin that survives renewal. */
  pin: string;
  /** When the certificate (the first in the PEM, the server's own) expires. */
  notAfter: Date;
}

export function fingerprintOf(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}

/**
 * The material of a certificate and its key, checked: a certificate that does not parse, or a key
 * that is not the certificate's, throws a message that says which (a reload then keeps the old one).
 */
export function tlsMaterial(cert: string, key: string): TlsMaterial {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new Error(`the certificate is not a PEM certificate: ${(err as Error).message}`, { cause: err });
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new Error(`the key is not a PEM private key: ${(err as Error).message}`, { cause: err });
  }
  if (!x509.checkPrivateKey(privateKey)) throw new Error('the key is not the key of the certificate');
  return { cert, key, fingerprint: x509.fingerprint256, pin: spkiPin(x509), notAfter: new Date(x509.validTo) };
}

export function loadTlsFiles(certFile: string, keyFile: string): TlsMaterial {
  return tlsMaterial(readFileSync(certFile, 'utf8'), readFileSync(keyFile, 'utf8'));
}

/** The data directory's self-signed certificate files. */
export function selfSignedFiles(dataDir: string): { cert: string; key: string } {
  return { cert: join(dataDir, 'tls-cert.pem'), key: join(dataDir, 'tls-key.pem') };
}

/**
 * A self-signed certificate made once and kept in the data directory, so its fingerprint stays the
 * same across restarts and clients can pin it. Its names cover localhost and the given hosts.
 */
export async function selfSignedTls(dataDir: string, hosts: string[]): Promise<TlsMaterial> {
  const { cert: certFile, key: keyFile } = selfSignedFiles(dataDir);
  if (existsSync(certFile) && existsSync(keyFile)) return loadTlsFiles(certFile, keyFile);
  const names = new Set(['localhost', '127.0.0.1', ...hosts.filter((h) => h && h !== '0.0.0.0' && h !== '::')]);
  const altNames = [...names].map((name) =>
    /^[\d.]+$/.test(name) || name.includes(':') ? { type: 7 as const, ip: name } : { type: 2 as const, value: name },
  );
  const notAfter = new Date();
  notAfter.setFullYear(notAfter.getFullYear() + 10);
  const pems = await generate([{ name: 'commonName', value: 'switchboard' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256', // selfsigned defaults to SHA-1, which browsers and OpenSSL 3 reject
    notAfterDate: notAfter,
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'keyUsage', digitalSignature: true, keyCertSign: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames },
    ],
  });
  writeFileSync(keyFile, pems.private, { mode: 0o600 });
  writeFileSync(certFile, pems.cert, { mode: 0o644 });
  return tlsMaterial(pems.cert, pems.private);
}

/** The public key's SHA-256 as colon hex: the pin a member announces in its join (pins.ts says why hex). */
export function announcedPin(material: TlsMaterial): string {
  return colonHex(spkiHash(material.cert));
}
