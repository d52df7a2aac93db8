import { createPublicKey, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { Command } from 'commander';
import { spkiPin, spkiPinOfKey } from '../net/pins.js';
import { acmeFiles } from '../server/acme.js';
import { selfSignedFiles } from '../server/tlsFiles.js';
import { readFlagFile } from './common.js';

/** The certificate a server on this data directory serves: ACME's if there is one, else the self-signed one. */
function dataCertificate(data: string): string {
  for (const file of [acmeFiles(data).cert, selfSignedFiles(data).cert]) if (existsSync(file)) return file;
  throw new Error(`no certificate in ${data} (neither acme/cert.pem nor tls-cert.pem); give --cert FILE for your own`);
}

function describe(file: string): string {
  const cert = new X509Certificate(readFlagFile(file, 'certificate'));
  const days = Math.floor((new Date(cert.validTo).getTime() - Date.now()) / 86_400_000);
  return [
    `certificate  ${file}`,
    `subject      ${cert.subjectAltName ?? cert.subject.replace(/\n/g, ', ')}`,
    `fingerprint  ${cert.fingerprint256}`,
    `key pin      ${spkiPin(cert)}`,
    `expires      ${new Date(cert.validTo).toISOString()} (${days < 0 ? 'expired' : `in ${days} days`})`,
  ].join('\n');
}

/**
 * `switchboard tls show`: what clients pin. The fingerprint changes at every renewal; the key pin
 * stays while the key does. `--key FILE` prints the pin of a key not yet in use, for a key roll.
 */
export function tlsCommand(): Command {
  const tls = new Command('tls').description("a server's TLS certificate and the pins clients trust it by");
  tls
    .command('show')
    .description('print the certificate fingerprint, the public key pin and the expiry')
    .option('--data <dir>', "the server's data directory", './data')
    .option('--cert <file>', 'a certificate file (your own --tls-cert) instead of the data directory')
    .option('--key <file>', "print the pin of this private or public key (PEM): the next key's, before a key roll")
    .action((flags: { data: string; cert?: string; key?: string }) => {
      if (flags.key) {
        const key = createPublicKey(readFlagFile(flags.key, 'key file (--key)'));
        process.stdout.write(`key pin      ${spkiPinOfKey(key.export({ type: 'spki', format: 'der' }))}\n`);
        return;
      }
      process.stdout.write(describe(flags.cert ?? dataCertificate(flags.data)) + '\n');
    });
  return tls;
}
