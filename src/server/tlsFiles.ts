import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from 'selfsigned';

export interface TlsMaterial {
  cert: string;
  key: string;
  /** SHA-256 of the certificate, colon-separated hex, as clients pin it. */
  fingerprint: string;
}

export function fingerprintOf(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}

export function loadTlsFiles(certFile: string, keyFile: string): TlsMaterial {
  const cert = readFileSync(certFile, 'utf8');
  const key = readFileSync(keyFile, 'utf8');
  return { cert, key, fingerprint: fingerprintOf(cert) };
}

/**
 * A self-signed certificate made once and kept in the data directory, so its fingerprint stays the
 * same across restarts and clients can pin it. Its names cover localhost and the given hosts.
 */
export async function selfSignedTls(dataDir: string, hosts: string[]): Promise<TlsMaterial> {
  const certFile = join(dataDir, 'tls-cert.pem');
  const keyFile = join(dataDir, 'tls-key.pem');
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
  return { cert: pems.cert, key: pems.private, fingerprint: fingerprintOf(pems.cert) };
}
