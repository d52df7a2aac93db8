import { Option, type Command } from 'commander';
import type { Logger } from '../server/logger.js';
import type { SwitchboardServer } from '../server/server.js';
import { loadTlsFiles, selfSignedFiles, selfSignedTls, type TlsMaterial } from '../server/tlsFiles.js';
import { watchTlsFiles } from '../server/tlsReload.js';
import { readFlagFile } from './common.js';

export interface ServerTlsFlags {
  tlsSelfSigned?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  acmeDomain?: string;
  acmeDirectory?: string;
  acmeEmail?: string;
  acmeHttpPort?: string;
  acmeCa?: string;
  acmeRenewBefore?: string;
  acmeCheckInterval?: string;
}

/** The server's certificate flags: self-signed, files, or ACME. */
export function addServerTlsFlags(cmd: Command): Command {
  return cmd
    .option('--tls-self-signed', 'serve TLS with a self-signed certificate kept in the data directory')
    .option('--tls-cert <file>', 'TLS certificate (PEM); replaced files are served at once, without a restart')
    .option('--tls-key <file>', 'TLS private key (PEM)')
    .option('--acme-domain <name>', 'serve TLS with a certificate for NAME from an ACME CA, renewed by itself')
    .option(
      '--acme-directory <url>',
      "the ACME directory URL (Let's Encrypt: https://acme-v02.api.letsencrypt.org/directory)",
    )
    .option('--acme-email <address>', 'contact address for the ACME account (expiry notices)')
    .option(
      '--acme-http-port <port>',
      'port where http-01 challenges are answered (the CA dials port 80 of the domain)',
      '80',
    )
    .option('--acme-ca <file>', "trust this CA (PEM) for the ACME directory's HTTPS (a private ACME server)")
    .option('--acme-renew-before <days>', 'renew when the certificate has fewer days left than this', '30')
    .addOption(new Option('--acme-check-interval <seconds>', 'testing: how often to check for renewal').hideHelp());
}

function positive(text: string, flag: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${flag} must be a positive number (got ${text})`);
  return value;
}

/** Refuses contradictory flags before anything is started. */
export function checkServerTlsFlags(flags: ServerTlsFlags): void {
  if (Boolean(flags.tlsCert) !== Boolean(flags.tlsKey)) throw new Error('--tls-cert and --tls-key go together');
  const sources = [flags.tlsSelfSigned, flags.tlsCert, flags.acmeDomain].filter(Boolean).length;
  if (sources > 1)
    throw new Error('give one certificate source: --tls-self-signed, --tls-cert/--tls-key or --acme-domain');
  if (Boolean(flags.acmeDomain) !== Boolean(flags.acmeDirectory))
    throw new Error('--acme-domain and --acme-directory go together');
  if (flags.acmeDomain && !/^(?=.{1,253}$)([A-Za-z0-9-]{1,63}\.)*[A-Za-z0-9-]{1,63}$/.test(flags.acmeDomain))
    throw new Error(`--acme-domain must be a DNS name (got ${flags.acmeDomain})`);
  if (flags.acmeDirectory && !/^https?:\/\//.test(flags.acmeDirectory))
    throw new Error('--acme-directory must be an https:// URL');
  const port = Number(flags.acmeHttpPort ?? '80');
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error(`--acme-http-port must be a port number (got ${flags.acmeHttpPort})`);
  positive(flags.acmeRenewBefore ?? '30', '--acme-renew-before');
  if (flags.acmeCheckInterval) positive(flags.acmeCheckInterval, '--acme-check-interval');
}

export interface ServerTls {
  material: TlsMaterial | undefined;
  /** From now on, new certificates go to this server. */
  attach(server: SwitchboardServer): void;
  /** SIGHUP: read the files again, or check the ACME certificate (renewing it if due or its key was replaced). */
  reload(reason: string): void;
  stop(): Promise<void>;
}

/**
 * Loads the certificate the flags name and keeps it current: replaced files (watched, or on
 * SIGHUP) and ACME renewals are handed to the server, which serves them to new connections.
 */
export async function startServerTls(
  flags: ServerTlsFlags,
  dataDir: string,
  host: string,
  names: string[],
  logger: Logger,
): Promise<ServerTls> {
  let server: SwitchboardServer | undefined;
  const apply = (material: TlsMaterial) => server?.reloadTls(material);
  if (flags.acmeDomain && flags.acmeDirectory) {
    // Loaded only here: acme-client (with axios) costs every server start 0.4 s of CPU otherwise.
    const { AcmeCertificates } = await import('../server/acme.js');
    const acme = new AcmeCertificates({
      dataDir,
      domain: flags.acmeDomain,
      directory: flags.acmeDirectory,
      email: flags.acmeEmail,
      directoryCa: flags.acmeCa ? readFlagFile(flags.acmeCa, 'ACME CA file (--acme-ca)').toString() : undefined,
      httpHost: host,
      httpPort: Number(flags.acmeHttpPort ?? '80'),
      renewBeforeMs: Number(flags.acmeRenewBefore ?? '30') * 86_400_000,
      checkIntervalMs: flags.acmeCheckInterval ? Number(flags.acmeCheckInterval) * 1000 : 12 * 3_600_000,
      logger,
      onCertificate: apply,
    });
    const material = await acme.start();
    return {
      material,
      attach: (s) => (server = s),
      reload: (reason) => void acme.check(reason),
      stop: () => acme.stop(),
    };
  }
  let files: { cert: string; key: string } | undefined;
  let material: TlsMaterial | undefined;
  if (flags.tlsCert && flags.tlsKey) {
    files = { cert: flags.tlsCert, key: flags.tlsKey };
    material = loadTlsFiles(files.cert, files.key);
  } else if (flags.tlsSelfSigned) {
    material = await selfSignedTls(dataDir, names);
    files = selfSignedFiles(dataDir);
  }
  if (!files || !material)
    return { material: undefined, attach: () => undefined, reload: () => undefined, stop: async () => {} };
  const watch = watchTlsFiles(files.cert, files.key, material, apply, logger);
  return {
    material,
    attach: (s) => (server = s),
    reload: (reason) => watch.reload(reason),
    stop: () => Promise.resolve(watch.stop()),
  };
}
