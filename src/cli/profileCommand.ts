import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { checkProfileName, profileDir, ProfileStore, type Profile } from '../control/profileStore.js';
import { ErrorCodes, SwitchboardError } from '../protocol/errors.js';
import { gatewayAddress, table } from './common.js';
import { logoutSession } from './controlProfile.js';

interface AddFlags {
  gateway: string;
  secondary?: string;
  key?: string;
  keyFile?: string;
  operator?: string;
  tls?: boolean;
  tlsFingerprint?: string;
  ca?: string;
  insecure?: boolean;
  proxy?: string;
  replace?: boolean;
}

/** A file a profile names, made absolute (a profile is used from any directory) and checked now. */
function readableFile(path: string, what: string): string {
  const absolute = resolve(path);
  try {
    readFileSync(absolute);
  } catch (err) {
    throw new SwitchboardError(
      ErrorCodes.CONFIG,
      `${what} ${absolute}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`,
    );
  }
  return absolute;
}

export function profileFromFlags(flags: AddFlags): Profile {
  gatewayAddress(flags.gateway);
  if (flags.key && flags.keyFile) throw new SwitchboardError(ErrorCodes.CONFIG, '--key and --key-file: give one');
  if (flags.tlsFingerprint && flags.ca)
    throw new SwitchboardError(ErrorCodes.CONFIG, '--tls-fingerprint and --ca: give one');
  const profile: Profile = {
    gateway: flags.gateway,
    secondary: flags.secondary,
    key: flags.key,
    keyFile: flags.keyFile ? readableFile(flags.keyFile, 'key file') : undefined,
    operator: flags.operator,
    tls: flags.tls,
    tlsFingerprint: flags.tlsFingerprint,
    ca: flags.ca ? readableFile(flags.ca, 'CA file') : undefined,
    insecure: flags.insecure,
    proxy: flags.proxy,
  };
  return Object.fromEntries(Object.entries(profile).filter(([, v]) => v !== undefined)) as Profile;
}

function keyColumn(p: Profile): string {
  if (p.keyFile) return p.keyFile;
  return p.key ? '(in the profile)' : '';
}

function tlsColumn(p: Profile): string {
  if (p.tlsFingerprint) return `fingerprint ${p.tlsFingerprint.slice(0, 23)}...`;
  if (p.ca) return `ca ${p.ca}`;
  if (p.insecure) return 'insecure';
  return p.tls || p.gateway.startsWith('https://') ? 'yes' : '';
}

/** `control profile add|list|remove`: named gateways in the user's configuration directory. */
export function profileCommand(env: NodeJS.ProcessEnv): Command {
  const profile = new Command('profile').description(
    `named gateways with their key, operator, TLS and proxy settings (kept owner-only in $XDG_CONFIG_HOME/switchboard, else ~/.config/switchboard); use one with control --profile NAME`,
  );
  const store = () => new ProfileStore(profileDir(env));

  profile
    .command('add')
    .description('add a profile (the password is never kept: control --profile NAME login keeps a session token)')
    .argument('<name>', 'the profile name')
    .requiredOption('--gateway <host:port>', 'the primary (or standalone) server; https://HOST:PORT for TLS')
    .option('--secondary <host:port>', 'the secondary server')
    .option('--key <key>', 'connectivity key (kept in the profile)')
    .option('--key-file <file>', 'file holding the connectivity key (its path is kept)')
    .option('--operator <name>', 'operator name')
    .option('--tls', 'speak TLS to the server')
    .option(
      '--tls-fingerprint <pins>',
      "trust the server by its certificate's fingerprint or its key's pin (spki:sha256/BASE64)",
    )
    .option('--ca <file>', 'trust server certificates signed by this CA (PEM; its path is kept)')
    .option('--insecure', 'speak TLS without verifying the server (testing only)')
    .option('--proxy <url>', 'reach the server through an HTTP CONNECT proxy: http://[user:pass@]HOST:PORT')
    .option('--replace', 'replace a profile of that name (and forget its session)')
    .action((name: string, flags: AddFlags) => {
      store().add(checkProfileName(name), profileFromFlags(flags), flags.replace);
      process.stdout.write(`profile ${name} added\n`);
    });

  profile
    .command('list')
    .description('list the profiles and their sessions (keys and tokens are never shown)')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) => {
      const profiles = store();
      const rows: {
        name: string;
        profile: Profile;
        session: { operator: string; gateway: string; expiresAt: string } | null;
      }[] = [];
      for (const name of profiles.names()) {
        try {
          const p = profiles.get(name);
          const s = profiles.session(name);
          rows.push({
            name,
            profile: p,
            session: s ? { operator: s.operator, gateway: s.gateway, expiresAt: s.expiresAt } : null,
          });
        } catch (err) {
          // One unreadable or refused profile does not hide the others.
          process.stderr.write(`switchboard: ${(err as Error).message}\n`);
          process.exitCode = 1;
        }
      }
      if (opts.json) {
        const shown = rows.map(({ name, profile: { key, ...p }, session }) => ({
          name,
          ...p,
          ...(key ? { key: '(in the profile)' } : {}),
          session,
        }));
        return void process.stdout.write(JSON.stringify(shown, null, 2) + '\n');
      }
      process.stdout.write(
        table(
          ['NAME', 'GATEWAY', 'SECONDARY', 'OPERATOR', 'KEY', 'TLS', 'PROXY', 'SESSION'],
          rows.map(({ name, profile: p, session }) => [
            name,
            p.gateway,
            p.secondary ?? '',
            p.operator ?? '',
            keyColumn(p),
            tlsColumn(p),
            p.proxy ? 'yes' : '',
            session ? `until ${session.expiresAt}` : '',
          ]),
        ) + '\n',
      );
    });

  profile
    .command('remove')
    .description('remove a profile; a session kept for it is ended on the server too')
    .argument('<name>', 'the profile name')
    .action(async (name: string) => {
      const profiles = store();
      checkProfileName(name);
      let ending: Error | undefined;
      let p: Profile | undefined;
      try {
        p = profiles.find(name);
      } catch {
        // A profile refused for its mode or content is still removed; only its session stays unended.
      }
      if (p) await logoutSession(profiles, name, p, 5_000).catch((err: Error) => (ending = err));
      if (!profiles.remove(name)) throw new SwitchboardError(ErrorCodes.CONFIG, `no profile ${name}`);
      process.stdout.write(`profile ${name} removed\n`);
      if (ending) process.stderr.write(`switchboard: ${ending.message}\n`);
    });

  return profile;
}
