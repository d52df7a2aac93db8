import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { clusterRoleFactory } from '../cluster/roleFactory.js';
import type { DialOptions } from '../net/dial.js';
import type { RoleName } from '../server/role.js';
import { gatewayAddress } from './common.js';
import { serverServiceCommands } from './serviceCommand.js';
import { parseHostPort } from '../net/address.js';
import { parsePins } from '../net/pins.js';
import { newSecret } from '../protocol/proof.js';
import { ConfigStore } from '../store/configStore.js';
import { DataLock } from '../store/dataLock.js';
import { hashPassword } from '../store/passwords.js';
import { createLogger } from '../server/logger.js';
import { SwitchboardServer } from '../server/server.js';
import { addServerTlsFlags, checkServerTlsFlags, startServerTls, type ServerTlsFlags } from './serverTls.js';
import { parseKindLimits } from '../server/sessionBudget.js';

/** The cluster secret never goes on a command line, where `ps` would show it. */
function readClusterSecret(flags: ServerFlags, env: NodeJS.ProcessEnv): string {
  const secret = flags.clusterSecretFile
    ? readFileSync(flags.clusterSecretFile, 'utf8').trim()
    : env.SWITCHBOARD_CLUSTER_SECRET;
  if (!secret)
    throw new Error(
      'a cluster server needs the cluster secret: --cluster-secret-file FILE or SWITCHBOARD_CLUSTER_SECRET',
    );
  if (secret.length < 16) throw new Error('the cluster secret must be at least 16 characters');
  return secret;
}

interface ServerFlags extends ServerTlsFlags {
  primaryFingerprint?: string;
  faultBlock?: string;
  sessionLimit?: string;
  webProxyListen?: string;
  webProxyHost?: string;
  data: string;
  listen: string;
  role: string;
  advertise?: string;
  primary?: string;
  clusterSecretFile?: string;
  tlsOnly?: boolean;
  init?: boolean;
  logLevel: string;
  maxClients?: string;
}

/** On a first run with --init: a key and an admin operator, printed once. */
async function initialCredentials(store: ConfigStore): Promise<string | undefined> {
  if (store.keys().length > 0 || store.operatorCount() > 0) return undefined;
  const key = store.addKey('default', newSecret());
  const password = newSecret(12);
  store.putOperator({ name: 'admin', passwordHash: await hashPassword(password), role: 'admin', keys: [] });
  store.audit('switchboard', 'init', { key: 'default', operator: 'admin' });
  return [
    '',
    'Switchboard first run: these credentials are shown once; keep them now.',
    `  key       default   ${key.value}`,
    `  operator  admin     password ${password}`,
    '',
  ].join('\n');
}

export function serverCommand(env: NodeJS.ProcessEnv): Command {
  const server = new Command('server')
    .description('run a Switchboard server')
    .option('--data <dir>', 'data directory (SQLite store, TLS files)', './data')
    .option('--listen <host:port>', 'address to listen on (port 0 picks a free one)', '0.0.0.0:443')
    .option('--role <role>', 'standalone | primary | member | standby', 'standalone')
    .option('--advertise <host:port>', 'the address clients and servers use to reach this server')
    .option('--primary <host:port>', "the primary's address (members and standbys)")
    .option(
      '--primary-fingerprint <pins>',
      "pin the primary's TLS certificate: its fingerprint or its key's pin (spki:sha256/BASE64), comma-separated (members)",
    )
    .option('--cluster-secret-file <file>', 'file holding the cluster secret (or env SWITCHBOARD_CLUSTER_SECRET)');
  // The certificate flags keep their place in --help and in the units `server install` writes.
  addServerTlsFlags(server)
    .option('--tls-only', 'the port speaks TLS alone (no plain HTTP beside it): faster TLS relaying')
    .option(
      '--max-clients <n>',
      'clients this server holds at most; past it they are refused and sent elsewhere (default: from the file limit, ulimit -n, less a reserve)',
    )
    .option('--init', 'on the first run, create a key and an admin operator and print them once')
    .option('--log-level <level>', 'trace | debug | info | warn | error', 'info')
    .option(
      '--web-proxy-listen <host:port>',
      "serve clients' web pages from the console on this address (each link its own origin)",
    )
    .option(
      '--web-proxy-host <name>',
      'the name browsers reach --web-proxy-listen by; link L is L.NAME, so NAME needs a wildcard DNS entry (default: localhost, for a loopback address)',
    )
    .option(
      '--session-limit <kind=n,...>',
      'sessions one operator may hold at once, by kind, over the defaults (forward=1024,web=256,exec=64,shell=16,files=16,desktop=8)',
    )
    .addOption(
      new Option('--fault-block <addresses>', 'testing: drop cluster traffic with these HOST:PORTs').hideHelp(),
    )
    .action(async (flags: ServerFlags) => {
      const { host, port } = parseHostPort(flags.listen, 443);
      const role = flags.role as RoleName;
      if (!['standalone', 'primary', 'member', 'standby'].includes(role))
        throw new Error(`--role must be standalone, primary, member or standby (got ${flags.role})`);
      // A standalone server needs the secret only to accept a standby.
      const secret =
        role === 'standalone' && !flags.clusterSecretFile && !env.SWITCHBOARD_CLUSTER_SECRET
          ? undefined
          : readClusterSecret(flags, env);
      if ((role === 'member' || role === 'standby') && !flags.primary)
        throw new Error(`a ${role} needs --primary HOST:PORT (the primary's address)`);
      if (role !== 'standalone' && !flags.advertise && (host === '0.0.0.0' || host === '::' || port === 0)) {
        throw new Error(
          'a cluster server needs --advertise HOST:PORT: the address other servers and clients use to reach it',
        );
      }
      const sessionLimits = flags.sessionLimit ? parseKindLimits(flags.sessionLimit) : undefined;
      const webProxy = flags.webProxyListen ? webProxyOptions(flags.webProxyListen, flags.webProxyHost) : undefined;
      const maxClients = flags.maxClients === undefined ? undefined : Number(flags.maxClients);
      if (maxClients !== undefined && (!Number.isInteger(maxClients) || maxClients < 1))
        throw new Error(`--max-clients must be a positive whole number (got ${flags.maxClients})`);
      checkServerTlsFlags(flags);
      if (flags.primaryFingerprint) parsePins(flags.primaryFingerprint);
      if (flags.tlsOnly && !flags.tlsCert && !flags.tlsSelfSigned && !flags.acmeDomain)
        throw new Error('--tls-only needs a certificate: --tls-self-signed, --tls-cert/--tls-key or --acme-domain');
      const logger = createLogger(flags.logLevel);
      // Before anything in the directory is touched: a second server on it stops here, naming the first.
      const lock = DataLock.acquire(flags.data);
      const store = ConfigStore.open(flags.data);
      const tlsSource = await startServerTls(
        flags,
        flags.data,
        host,
        [host, ...(flags.advertise ? [parseHostPort(flags.advertise).host] : [])],
        logger,
      );
      const tls = tlsSource.material;
      if (flags.init) {
        const banner = await initialCredentials(store);
        if (banner) process.stderr.write(banner + '\n');
      }
      if (store.keys().length === 0 && role !== 'member' && role !== 'standby') {
        logger.warn(
          { hint: `switchboard config --data ${flags.data} key add NAME` },
          'no key configured: no client or control can connect until one is added',
        );
      }
      const primary = flags.primary ? gatewayAddress(flags.primary) : undefined;
      const clusterDial: DialOptions = {
        tls: Boolean(primary?.tls || flags.primaryFingerprint),
        fingerprint: flags.primaryFingerprint,
        insecure: !flags.primaryFingerprint,
        tls13Only: true,
      };
      const behaviour = clusterRoleFactory(role, secret, primary?.address);
      const server = new SwitchboardServer({
        store,
        logger,
        host,
        port,
        advertise: flags.advertise ?? (role === 'standalone' ? undefined : `${host}:${port}`),
        tls,
        tlsOnly: flags.tlsOnly,
        role,
        behaviour,
        clusterDial,
        clusterSecret: secret,
        faultBlock: flags.faultBlock?.split(','),
        maxClients,
        sessionLimits,
        webProxy,
      });
      tlsSource.attach(server);
      await server.start();
      if (tls)
        process.stderr.write(
          `TLS certificate SHA-256 fingerprint: ${tls.fingerprint}\n` +
            `TLS public key pin (stays the same across renewals that keep the key): ${tls.pin}\n`,
        );
      // SIGHUP: the certificate files are read again (ACME: renewed now if due or its key was replaced).
      process.on('SIGHUP', () => tlsSource.reload('SIGHUP'));
      const shutdown = (signal: string) => {
        logger.info({ signal }, 'shutting down');
        void Promise.all([server.stop(), tlsSource.stop()]).then(() => {
          store.close();
          lock.release();
          logger.flush();
          setTimeout(() => process.exit(0), 50);
        });
      };
      process.once('SIGTERM', () => shutdown('SIGTERM'));
      process.once('SIGINT', () => shutdown('SIGINT'));
    });
  // `server install [server flags]`: the flags after install are the service's, not this command's.
  server.enablePositionalOptions();
  for (const sub of serverServiceCommands(() => serverCommand(env))) server.addCommand(sub);
  return server;
}

/**
 * `--web-proxy-listen` and `--web-proxy-host`: each link is served at `LABEL.HOST`, a host of its own,
 * so that no proxied page shares cookies with the console or another link. `*.localhost` reaches
 * loopback in browsers with no DNS at all, hence the default for a loopback listener.
 */
function webProxyOptions(listen: string, host: string | undefined): { host: string; port: number; publicHost: string } {
  const address = parseHostPort(listen, 443);
  const loopback = /^127\./.test(address.host) || address.host === '::1' || address.host === 'localhost';
  if (!host && !loopback)
    throw new Error(
      '--web-proxy-listen on a non-loopback address needs --web-proxy-host NAME (with a wildcard DNS entry *.NAME pointing to it)',
    );
  const publicHost = (host ?? 'localhost').toLowerCase();
  if (!/^[a-z0-9]([a-z0-9.-]{0,200}[a-z0-9])?$/.test(publicHost))
    throw new Error(`--web-proxy-host ${host} is not a host name`);
  return { host: address.host, port: address.port, publicHost };
}
