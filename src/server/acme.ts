import { createPrivateKey, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import * as acme from 'acme-client';
import { ErrorCodes, SwitchboardError } from '../protocol/errors.js';
import type { Logger } from './logger.js';
import { tlsMaterial, type TlsMaterial } from './tlsFiles.js';

export interface AcmeOptions {
  dataDir: string;
  /** The name the certificate is for; the ACME server validates it by dialling it. */
  domain: string;
  /** The ACME directory URL (Let's Encrypt: https://acme-v02.api.letsencrypt.org/directory). */
  directory: string;
  email?: string;
  /** PEM of a CA to trust for the directory's HTTPS (a private ACME server, pebble in tests). */
  directoryCa?: string;
  /** Where http-01 challenges are answered: port 80 of the domain, unless a proxy forwards another. */
  httpHost: string;
  httpPort: number;
  /** Renew when the certificate has less than this left (default 30 days). */
  renewBeforeMs: number;
  /** How often the certificate's age is checked (default 12 hours). */
  checkIntervalMs: number;
  logger: Logger;
  /** A new certificate (a renewal): served to new connections from now on. */
  onCertificate(material: TlsMaterial): void;
}

const CHALLENGE_PATH = '/.well-known/acme-challenge/';

/** The files kept in the data directory, owner-only: the account's key, the certificate's key and chain. */
export function acmeFiles(dataDir: string): {
  dir: string;
  accountKey: string;
  account: string;
  key: string;
  cert: string;
} {
  const dir = join(dataDir, 'acme');
  return {
    dir,
    accountKey: join(dir, 'account-key.pem'),
    account: join(dir, 'account.json'),
    key: join(dir, 'key.pem'),
    cert: join(dir, 'cert.pem'),
  };
}

/** Written whole or not at all: a crash mid-write never leaves half a key behind. */
function writeSecret(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

/** Why the stored certificate must be replaced now, or undefined if it may stay. */
export function renewalReason(
  cert: X509Certificate,
  keyPem: string,
  domain: string,
  renewBeforeMs: number,
  now: number,
): string | undefined {
  if (!cert.checkHost(domain)) return `the certificate is not for ${domain}`;
  if (!cert.checkPrivateKey(createPrivateKey(keyPem))) return 'the key was replaced (a key roll)';
  const left = new Date(cert.validTo).getTime() - now;
  if (left < renewBeforeMs) return `it expires in ${Math.max(0, Math.round(left / 86_400_000))} days`;
  return undefined;
}

/**
 * A certificate from an ACME CA (Let's Encrypt, or any RFC 8555 server), kept in the data
 * directory and renewed before it expires, without a restart: the new one goes to `onCertificate`,
 * which serves it to new connections while open ones keep theirs. The certificate's key is kept
 * across renewals, so clients that pin the public key (`spki:sha256/...`) stay connected; replace
 * `acme/key.pem` and send SIGHUP to roll it. Challenges are answered by http-01 on `httpPort`.
 */
export class AcmeCertificates {
  private readonly files: ReturnType<typeof acmeFiles>;
  private readonly challenges = new Map<string, string>();
  private httpServer: http.Server | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private material: TlsMaterial | undefined;
  /** The last renewal failure, reported once until it changes or a renewal works. */
  private lastFailure = '';

  constructor(private readonly options: AcmeOptions) {
    this.files = acmeFiles(options.dataDir);
  }

  /** Answers challenges, then loads the stored certificate, or obtains one if there is none fit to serve. */
  async start(): Promise<TlsMaterial> {
    mkdirSync(this.files.dir, { recursive: true, mode: 0o700 });
    chmodSync(this.files.dir, 0o700);
    await this.listenForChallenges();
    const stored = this.stored();
    const reason = stored ? this.dueBecause(stored) : 'no certificate yet';
    if (reason) {
      try {
        await this.obtain(reason);
      } catch (err) {
        // An expired or foreign certificate is still better than none while the CA is away.
        if (!stored) throw err;
        this.reportFailure(err);
      }
    } else this.material = stored;
    this.timer = setInterval(() => void this.check('scheduled check'), this.options.checkIntervalMs);
    this.timer.unref();
    return this.material!;
  }

  /** Renews now if the certificate is due (or its key was replaced); a failure is logged, the old one stays. */
  check(reason: string): Promise<void> {
    this.running ??= (async () => {
      try {
        const due = this.material ? this.dueBecause(this.material) : 'no certificate yet';
        if (due) await this.obtain(`${due} (${reason})`);
      } catch (err) {
        this.reportFailure(err);
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  stop(): Promise<void> {
    clearInterval(this.timer);
    return new Promise((resolve) => (this.httpServer ? this.httpServer.close(() => resolve()) : resolve()));
  }

  private reportFailure(err: unknown): void {
    const message = (err as Error).message;
    if (message !== this.lastFailure)
      this.options.logger.warn(
        {
          domain: this.options.domain,
          directory: this.options.directory,
          err: message,
          notAfter: this.material?.notAfter.toISOString(),
        },
        `ACME renewal failed; the current certificate stays and the renewal is tried again at the next check: check that ${this.options.domain} reaches port ${this.options.httpPort} of this server`,
      );
    this.lastFailure = message;
  }

  private stored(): TlsMaterial | undefined {
    if (!existsSync(this.files.cert) || !existsSync(this.files.key)) return undefined;
    try {
      return tlsMaterial(readFileSync(this.files.cert, 'utf8'), readFileSync(this.files.key, 'utf8'));
    } catch {
      return undefined;
    }
  }

  private dueBecause(material: TlsMaterial): string | undefined {
    const keyPem = existsSync(this.files.key) ? readFileSync(this.files.key, 'utf8') : material.key;
    return renewalReason(
      new X509Certificate(material.cert),
      keyPem,
      this.options.domain,
      this.options.renewBeforeMs,
      Date.now(),
    );
  }

  private async obtain(reason: string): Promise<void> {
    const { logger, domain } = this.options;
    logger.info({ domain, directory: this.options.directory, reason }, 'ACME: ordering a certificate');
    const accountKey = await this.keyFile(this.files.accountKey);
    const key = await this.keyFile(this.files.key);
    if (this.options.directoryCa) acme.axios.defaults.httpsAgent = new https.Agent({ ca: this.options.directoryCa });
    acme.setLogger((line) => logger.debug({ acme: line }, 'ACME'));
    // The account's URL, once registered: a registration again would be an account update, which
    // some CAs refuse when nothing changes.
    const client = new acme.Client({
      directoryUrl: this.options.directory,
      accountKey,
      accountUrl: this.accountUrl(),
    });
    const [, csr] = await acme.crypto.createCsr({ commonName: domain, altNames: [domain] }, key);
    let chain: string;
    try {
      chain = await client.auto({
        csr,
        email: this.options.email,
        termsOfServiceAgreed: true,
        challengePriority: ['http-01'],
        // The CA checks the challenge itself; a check from here would need this host to resolve
        // its own public name, which it often cannot (split DNS, NAT).
        skipChallengeVerification: true,
        challengeCreateFn: (_authz, challenge, keyAuthorization) => {
          this.challenges.set(challenge.token, keyAuthorization);
          return Promise.resolve();
        },
        challengeRemoveFn: (_authz, challenge) => {
          this.challenges.delete(challenge.token);
          return Promise.resolve();
        },
      });
    } catch (err) {
      throw new SwitchboardError(
        ErrorCodes.ACME_FAILED,
        `ACME certificate for ${domain} from ${this.options.directory} failed: ${(err as Error).message}`,
      );
    }
    const material = tlsMaterial(chain, key);
    writeSecret(this.files.cert, chain);
    writeSecret(this.files.account, JSON.stringify({ directory: this.options.directory, url: client.getAccountUrl() }));
    const renewed = this.material !== undefined;
    this.material = material;
    this.lastFailure = '';
    logger.info(
      { domain, fingerprint: material.fingerprint, pin: material.pin, notAfter: material.notAfter.toISOString() },
      renewed ? 'ACME: certificate renewed' : 'ACME: certificate obtained',
    );
    if (renewed) this.options.onCertificate(material);
  }

  /** The account URL registered with this directory, if any. */
  private accountUrl(): string | undefined {
    try {
      const saved = JSON.parse(readFileSync(this.files.account, 'utf8')) as { directory?: unknown; url?: unknown };
      return saved.directory === this.options.directory && typeof saved.url === 'string' ? saved.url : undefined;
    } catch {
      return undefined;
    }
  }

  /** A key kept in the data directory, made (ECDSA P-256) the first time. */
  private async keyFile(file: string): Promise<string> {
    if (existsSync(file)) return readFileSync(file, 'utf8');
    const key = (await acme.crypto.createPrivateEcdsaKey('P-256')).toString();
    writeSecret(file, key);
    return key;
  }

  /** http-01: GET /.well-known/acme-challenge/TOKEN answers the key authorisation; anything else 404. */
  private listenForChallenges(): Promise<void> {
    const server = http.createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0]!;
      const answer = path.startsWith(CHALLENGE_PATH)
        ? this.challenges.get(path.slice(CHALLENGE_PATH.length))
        : undefined;
      res.writeHead(answer ? 200 : 404, { 'content-type': 'text/plain' });
      res.end(answer ?? 'not found');
    });
    server.headersTimeout = 10_000;
    server.requestTimeout = 10_000;
    this.httpServer = server;
    return new Promise((resolve, reject) => {
      server.once('error', (err) =>
        reject(
          new SwitchboardError(
            ErrorCodes.ACME_FAILED,
            `cannot listen for ACME http-01 challenges on ${this.options.httpHost}:${this.options.httpPort}: ${err.message}`,
          ),
        ),
      );
      server.listen(this.options.httpPort, this.options.httpHost, () => resolve());
    });
  }
}
