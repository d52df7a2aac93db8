import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import { parseHostPort } from '../net/address.js';
import { parseClientConfig } from './clientConfigFile.js';
import { readConfigFile } from './common.js';
import { renderUnit, unitName, type UnitSpec } from './units.js';

/**
 * `switchboard client install|uninstall` and `switchboard server install|uninstall`: systemd units
 * for a role (units.ts writes them), the dedicated user, and systemctl when the units go to the
 * system's unit directory.
 */

const SYSTEM_UNIT_DIR = '/etc/systemd/system';
const DEFAULT_USER = 'switchboard';
/**
 * bin/switchboard.js, from dist/src/cli; found when a unit is written, not at load: the single-file
 * agent bundles this module too, and there `import.meta.url` does not exist.
 */
function entryScript(): string {
  if (!import.meta.url)
    throw new Error(
      'install the service with the switchboard package (npx switchboard client install), not the single-file agent',
    );
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'switchboard.js');
}

interface InstallFlags {
  dryRun?: boolean;
  unitDir: string;
  user: string;
  node: string;
}

function addInstallFlags(cmd: Command): Command {
  return cmd
    .option('--dry-run', 'print the unit instead of installing it')
    .option('--unit-dir <dir>', 'where to write the unit', SYSTEM_UNIT_DIR)
    .option('--user <name>', 'the system user the service runs as (created if missing)', DEFAULT_USER)
    .addOption(new Option('--node <path>', 'the node binary the service runs').default(process.execPath, 'this node'));
}

function run(command: string, args: string[]): void {
  execFileSync(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });
}

function userExists(user: string): boolean {
  try {
    execFileSync('id', ['-u', user], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function userIds(user: string): { uid: number; gid: number } {
  const id = (flag: string) => Number(execFileSync('id', [flag, user], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

/** Writes the unit (or prints it), creates the user and the writable directories, and starts the service in the system's unit directory. */
function install(spec: UnitSpec, flags: InstallFlags): void {
  const text = renderUnit(spec);
  if (flags.dryRun) return void process.stdout.write(text);
  if (!userExists(spec.user)) {
    run('useradd', [
      '--system',
      '--user-group',
      '--no-create-home',
      '--home-dir',
      '/nonexistent',
      '--shell',
      '/usr/sbin/nologin',
      spec.user,
    ]);
  }
  const { uid, gid } = userIds(spec.user);
  for (const dir of spec.writablePaths) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chownSync(dir, uid, gid);
  }
  const file = join(flags.unitDir, unitName(spec.role));
  mkdirSync(flags.unitDir, { recursive: true });
  // A unit holds no secret (keys and cluster secrets stay in their files): readable as systemd expects.
  writeFileSync(file, text, { mode: 0o644 });
  process.stderr.write(`wrote ${file}\n`);
  if (resolve(flags.unitDir) === SYSTEM_UNIT_DIR) {
    run('systemctl', ['daemon-reload']);
    run('systemctl', ['enable', '--now', unitName(spec.role)]);
  } else {
    process.stderr.write(
      `to run it: link or copy it into ${SYSTEM_UNIT_DIR}, then systemctl daemon-reload && systemctl enable --now ${unitName(spec.role)}\n`,
    );
  }
}

function uninstall(role: UnitSpec['role'], flags: { unitDir: string }): void {
  const file = join(flags.unitDir, unitName(role));
  if (!existsSync(file)) throw new Error(`${file} does not exist: nothing to uninstall`);
  const system = resolve(flags.unitDir) === SYSTEM_UNIT_DIR;
  if (system) run('systemctl', ['disable', '--now', unitName(role)]);
  rmSync(file);
  if (system) run('systemctl', ['daemon-reload']);
  process.stderr.write(`removed ${file} (the user, the data and the state directories are kept)\n`);
}

function uninstallCommand(role: UnitSpec['role']): Command {
  return new Command('uninstall')
    .description(`stop and remove ${unitName(role)}`)
    .option('--unit-dir <dir>', 'where the unit is', SYSTEM_UNIT_DIR)
    .action((flags: { unitDir: string }) => uninstall(role, flags));
}

/** The client's unit runs `switchboard client --config FILE`; without a state directory in the file, it gets /var/lib/switchboard-client. */
export function clientServiceCommands(): Command[] {
  const installCmd = addInstallFlags(
    new Command('install')
      .description(`install ${unitName('client')}: a systemd service that runs the client with this configuration file`)
      .requiredOption('--config <file>', "the client's configuration file (TOML); it is checked now"),
  ).action((flags: InstallFlags & { config: string }) => {
    const file = resolve(flags.config);
    const config = parseClientConfig(file, readConfigFile(file));
    if (!config.gateway) throw new Error(`${file}: no "gateway": the service would have no server to dial`);
    if (!config.key && !config['key-file'])
      throw new Error(`${file}: no "key" or "key-file": the service would have no key`);
    const stateDirectory = config.state ? undefined : 'switchboard-client';
    install(
      {
        role: 'client',
        user: flags.user,
        node: flags.node,
        entry: entryScript(),
        args: ['client', '--config', file, ...(stateDirectory ? ['--state', `/var/lib/${stateDirectory}`] : [])],
        // The --allow-files directory too: uploads are written there (the unit's file system is read-only else).
        writablePaths: [config.state, config['allow-files']].filter((p): p is string => p !== undefined),
        stateDirectory,
        privilegedPort: false,
        readPaths: [file, ...[config['key-file'], config.ca].filter((p): p is string => p !== undefined)],
      },
      flags,
    );
  });
  return [installCmd, uninstallCommand('client')];
}

/** Server flags whose value is a path: made absolute, since the service does not run where install was typed. */
const SERVER_PATH_FLAGS = new Set(['data', 'tlsCert', 'tlsKey', 'clusterSecretFile', 'acmeCa']);
const DEFAULT_SERVER_DATA = '/var/lib/switchboard';

/**
 * The server's unit runs `switchboard server` with the flags given to install, checked against the
 * server command's own definitions (`serverFlags` makes a fresh one).
 */
export function serverServiceCommands(serverFlags: () => Command): Command[] {
  const installCmd = addInstallFlags(
    new Command('install')
      .description(`install ${unitName('server')}: a systemd service that runs the server with the flags that follow`)
      .usage('[--dry-run] [--unit-dir DIR] [--user NAME] [server flags]')
      .allowUnknownOption()
      .allowExcessArguments(),
  ).action((installFlags: InstallFlags, cmd: Command) => {
    // Install's own flags may come after the server's (commander leaves everything from the first
    // unknown flag on to us): one parser knows both, the server's definitions checking its flags.
    const server = addInstallFlags(serverFlags()).exitOverride();
    const own = new Set(addInstallFlags(new Command()).options.map((o) => o.attributeName()));
    const { operands, unknown } = server.parseOptions(cmd.args);
    if (unknown.length || operands.length)
      throw new Error(`not a server flag: ${[...unknown, ...operands][0]} (see switchboard server --help)`);
    const values = server.opts<Record<string, string | boolean>>();
    const given = server.options.filter((o) => server.getOptionValueSource(o.attributeName()) === 'cli');
    const flags: InstallFlags = { ...installFlags };
    for (const option of given.filter((o) => own.has(o.attributeName())))
      Object.assign(flags, { [option.attributeName()]: values[option.attributeName()] });
    const args = ['server'];
    for (const option of given.filter((o) => !own.has(o.attributeName()))) {
      const value = values[option.attributeName()];
      if (typeof value === 'boolean') args.push(option.long!);
      else args.push(option.long!, SERVER_PATH_FLAGS.has(option.attributeName()) ? resolve(value!) : value!);
    }
    const role = (values.role as string | undefined) ?? 'standalone';
    if (role !== 'standalone' && values.clusterSecretFile === undefined) {
      throw new Error(
        'a cluster server installed as a service needs --cluster-secret-file FILE (a unit must not hold the secret)',
      );
    }
    const dataGiven = args.includes('--data');
    const data = dataGiven ? resolve(values.data as string) : DEFAULT_SERVER_DATA;
    if (!dataGiven) args.push('--data', DEFAULT_SERVER_DATA);
    const { port } = parseHostPort(values.listen as string, 443);
    install(
      {
        role: 'server',
        user: flags.user,
        node: flags.node,
        entry: entryScript(),
        args,
        writablePaths: dataGiven ? [data] : [],
        stateDirectory: dataGiven ? undefined : 'switchboard',
        // ACME's http-01 port (80 by default) is bound too.
        privilegedPort:
          (port > 0 && port < 1024) || (values.acmeDomain !== undefined && Number(values.acmeHttpPort ?? 80) < 1024),
        readPaths: ['tlsCert', 'tlsKey', 'clusterSecretFile']
          .map((k) => values[k])
          .filter((p): p is string => typeof p === 'string')
          .map((p) => resolve(p)),
      },
      flags,
    );
  });
  return [installCmd, uninstallCommand('server')];
}
