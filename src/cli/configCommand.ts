import { Command } from 'commander';
import { ApiClient } from '../control/apiClient.js';
import { RemoteConfigTarget } from '../control/remoteConfigTarget.js';
import { ConfigStore, type OperatorRole } from '../store/configStore.js';
import type { ConfigTarget } from '../store/configTarget.js';
import { StoreConfigTarget } from '../store/storeConfigTarget.js';
import { SETTING_NAMES, settingsHelp } from './settingsHelp.js';
import { addDialFlags, dialOptions, gatewayAddress, readPassword, table, type DialFlags } from './common.js';
import { printableLines } from './printable.js';
import { addDeviceCommands } from './deviceCommand.js';
import { durationSeconds } from './duration.js';

interface ConfigFlags extends DialFlags {
  data?: string;
  create?: boolean;
  gateway?: string;
  operator?: string;
  passwordEnv?: string;
  totp?: string;
}

/** Who the offline changes are audited as. */
const ACTOR = 'cli';

/** The flags given to `config` itself, not to a subcommand (which may have a --password-env of its own). */
function configFlags(cmd: Command): ConfigFlags {
  let at: Command | null = cmd;
  while (at && at.name() !== 'config') at = at.parent;
  return (at ?? cmd).opts<ConfigFlags>();
}

/**
 * Opens the configuration a subcommand works on: a data directory (offline, or while its server
 * runs: the server sees the change within a fraction of a second), or the acting primary's REST API
 * (online: applied and replicated at once). Every subcommand is written once, against ConfigTarget.
 */
async function openTarget(cmd: Command, env: NodeJS.ProcessEnv, writes: boolean): Promise<ConfigTarget> {
  const flags = configFlags(cmd);
  if (flags.data && flags.gateway)
    throw new Error('give either --data DIR (offline) or --gateway HOST:PORT (online), not both');
  if (flags.gateway) {
    if (!flags.operator) throw new Error('--gateway needs an admin to log in as: --operator NAME --password-env VAR');
    const password = await readPassword({ passwordEnv: flags.passwordEnv }, env);
    if (password === undefined) throw new Error('--gateway needs the password: --password-env VAR');
    const { address, tls } = gatewayAddress(flags.gateway);
    const api = await ApiClient.login(address, dialOptions(flags, tls), {
      operator: flags.operator,
      password,
      totp: flags.totp,
    });
    return new RemoteConfigTarget(api);
  }
  if (!flags.data) throw new Error('--data DIR (offline) or --gateway HOST:PORT (online) is required');
  // A mistyped --data must not quietly make an empty store (and report success on it).
  if (!flags.create && !ConfigStore.exists(flags.data)) {
    throw new Error(
      `no Switchboard store in ${flags.data}: check --data, or add --create to make a new one there (a server makes one on its first start)`,
    );
  }
  const store = ConfigStore.open(flags.data);
  // Configuration has one writer at a time: the acting primary. A member's or standby's copy is replicated.
  const role = store.meta('role');
  if (writes && (role === 'member' || role === 'standby')) {
    const primary = store.meta('primary') ?? '';
    store.close();
    throw new Error(
      `this data directory belongs to a cluster ${role}; change the configuration on the primary ${primary}`.trim(),
    );
  }
  return new StoreConfigTarget(store, ACTOR, true);
}

function print(json: boolean | undefined, value: unknown, text: () => string): void {
  process.stdout.write((json ? JSON.stringify(value, null, 2) : printableLines(text())) + '\n');
}

function weightOf(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--weight must be a whole number, 0 or more: ${text}`);
  return n;
}

const HELP = `
Offline, on a data directory (the server may be running; it picks the change up):
  switchboard config --data ./data key add laptops

Before a server's first start, on a directory with no store yet (without --create it is refused):
  switchboard config --data ./data --create key add laptops

Online, through the acting primary's REST API, as an admin (applied and replicated at once):
  SB_PASSWORD=... switchboard config --gateway 10.0.0.1:443 --operator admin --password-env SB_PASSWORD \\
      [--totp 123456] [--tls-fingerprint SHA256 | --ca FILE | --insecure] server set 10.0.0.2:443 --weight 500
`;

export function configCommand(env: NodeJS.ProcessEnv): Command {
  const config = addDialFlags(
    new Command('config')
      .description('edit keys, operators, the server table and settings: offline (--data) or online (--gateway)')
      .option('--data <dir>', "the server's data directory (offline, or while it runs)")
      .option(
        '--create',
        'with --data: make the store when the directory has none (to set a server up before its first start)',
      )
      .option('--gateway <host:port>', 'the acting primary, online through its REST API (https://HOST:PORT for TLS)')
      .option('--operator <name>', 'the admin to log in as (with --gateway)')
      .option('--password-env <var>', "environment variable holding that admin's password (with --gateway)")
      .option('--totp <code>', "that admin's current TOTP code, when enrolled (with --gateway)"),
  )
    .addHelpText('after', HELP)
    .enablePositionalOptions();

  /** Runs one subcommand against the chosen target, and always closes it (logs out online). */
  const run =
    (writes: boolean, fn: (target: ConfigTarget, cmd: Command) => Promise<void>) =>
    async (...args: unknown[]) => {
      const cmd = args[args.length - 1] as Command;
      const target = await openTarget(cmd, env, writes);
      try {
        await fn(target, cmd);
      } finally {
        await target.close();
      }
    };

  const key = config.command('key').description('connectivity keys');
  key
    .command('add')
    .description('add a connectivity key and print it')
    .argument('<name>')
    .option('--value <secret>', 'the key itself (default: 32 random bytes)')
    .action(
      run(true, async (target, cmd) => {
        const added = await target.addKey(cmd.args[0]!, cmd.opts<{ value?: string }>().value);
        process.stdout.write(`${added.value}\n`);
      }),
    );
  key
    .command('list')
    .description('list the keys with their values')
    .option('--json', 'print JSON')
    .action(
      run(false, async (target, cmd) => {
        const keys = await target.keys();
        print(cmd.opts<{ json?: boolean }>().json, keys, () =>
          table(
            ['NAME', 'VALUE', 'CREATED'],
            keys.map((k) => [k.name, k.value, k.createdAt]),
          ),
        );
      }),
    );
  key
    .command('remove')
    .description('remove a key: its clients and controls are disconnected')
    .argument('<name>')
    .action(run(true, (target, cmd) => target.removeKey(cmd.args[0]!)));

  key
    .command('rotate')
    .description(
      "give the key a new secret and print it: connected clients are handed it, the old one is accepted for the grace period (or until 'key retire')",
    )
    .argument('<name>')
    .option('--grace <duration>', 'how long the old secret is still accepted (e.g. 30m, 12h, 14d)', '14d')
    .option('--value <secret>', 'the new secret (default: 32 random bytes)')
    .action(
      run(true, async (target, cmd) => {
        const opts = cmd.opts<{ grace: string; value?: string }>();
        const rotated = await target.rotateKey(cmd.args[0]!, durationSeconds(opts.grace), opts.value);
        process.stdout.write(`${rotated.value}\n`);
        process.stderr.write(`the old secret of ${rotated.name} is accepted until ${rotated.previousUntil ?? 'now'}\n`);
      }),
    );
  key
    .command('retire')
    .description("end a rotation now: the key's old secret is refused from here on")
    .argument('<name>')
    .action(
      run(true, async (target, cmd) => {
        await target.retireKey(cmd.args[0]!);
      }),
    );

  const operator = config.command('operator').description('operator accounts for controls and the console');
  operator
    .command('add')
    .argument('<name>')
    .option('--role <role>', 'admin | operator', 'operator')
    .option('--keys <names>', 'keys whose clients this operator may reach, comma-separated')
    .option('--password-stdin', "read the new operator's password from stdin")
    .option('--password-env <var>', "read the new operator's password from this environment variable")
    .action(
      async (
        name: string,
        opts: { role: string; keys?: string; passwordStdin?: boolean; passwordEnv?: string },
        cmd: Command,
      ) => {
        if (opts.role !== 'admin' && opts.role !== 'operator') throw new Error('--role must be admin or operator');
        const password = await readPassword(opts, env);
        if (!password) throw new Error('a password is required: --password-stdin or --password-env VAR');
        const keys = opts.keys
          ? opts.keys
              .split(',')
              .map((k) => k.trim())
              .filter(Boolean)
          : [];
        await run(true, async (target) => {
          await target.addOperator({ name, role: opts.role as OperatorRole, keys, password });
        })(cmd);
      },
    );
  operator
    .command('totp')
    .argument('<name>')
    .description('enrol the operator in TOTP and print the otpauth:// URI to scan')
    .action(
      run(true, async (target, cmd) => {
        const { uri } = await target.enrolTotp(cmd.args[0]!);
        process.stdout.write(`${uri}\n`);
      }),
    );
  operator
    .command('list')
    .option('--json', 'print JSON')
    .action(
      run(false, async (target, cmd) => {
        const ops = await target.operators();
        print(cmd.opts<{ json?: boolean }>().json, ops, () =>
          table(
            ['NAME', 'ROLE', 'KEYS', 'TOTP', 'CREATED'],
            ops.map((o) => [
              o.name,
              o.role,
              o.role === 'admin' ? '(all)' : o.keys.join(','),
              o.hasTotp ? 'yes' : 'no',
              o.createdAt,
            ]),
          ),
        );
      }),
    );
  operator
    .command('remove')
    .argument('<name>')
    .action(run(true, (target, cmd) => target.removeOperator(cmd.args[0]!)));

  const server = config.command('server').description("the primary's server table");
  server
    .command('add')
    .argument('<host:port>')
    .option('--weight <n>', 'relative share of clients', '1000')
    .option('--secondary', 'this member takes over if the primary fails')
    .option('--disabled', 'add it disabled')
    .action(
      run(true, async (target, cmd) => {
        const opts = cmd.opts<{ weight: string; secondary?: boolean; disabled?: boolean }>();
        await target.addServer({
          address: cmd.args[0]!,
          weight: weightOf(opts.weight),
          enabled: !opts.disabled,
          secondary: Boolean(opts.secondary),
        });
      }),
    );
  server
    .command('set')
    .argument('<host:port>')
    .option('--weight <n>')
    .option('--secondary')
    .option('--no-secondary')
    .option('--enabled')
    .option('--disabled')
    .action(
      run(true, async (target, cmd) => {
        const opts = cmd.opts<{ weight?: string; secondary?: boolean; enabled?: boolean; disabled?: boolean }>();
        const patch: { weight?: number; secondary?: boolean; enabled?: boolean } = {};
        if (opts.weight !== undefined) patch.weight = weightOf(opts.weight);
        if (opts.secondary !== undefined) patch.secondary = opts.secondary;
        if (opts.enabled) patch.enabled = true;
        if (opts.disabled) patch.enabled = false;
        await target.setServer(cmd.args[0]!, patch);
      }),
    );
  server
    .command('remove')
    .argument('<host:port>')
    .action(run(true, (target, cmd) => target.removeServer(cmd.args[0]!)));
  server
    .command('list')
    .option('--json', 'print JSON')
    .action(
      run(false, async (target, cmd) => {
        const rows = await target.servers();
        print(cmd.opts<{ json?: boolean }>().json, rows, () =>
          table(
            ['ADDRESS', 'WEIGHT', 'ENABLED', 'SECONDARY'],
            rows.map((s) => [s.address, String(s.weight), s.enabled ? 'yes' : 'no', s.secondary ? 'yes' : '']),
          ),
        );
      }),
    );

  config
    .command('set')
    .description('change a cluster-wide setting (the settings are listed below)')
    .argument('<setting>', SETTING_NAMES.join(' | '))
    .argument('<value>')
    .addHelpText('after', settingsHelp())
    .action(
      run(true, async (target, cmd) => {
        await target.setSetting(cmd.args[0]!, cmd.args[1]!);
      }),
    );

  config
    .command('show')
    .description('print the configuration: version, settings, keys, operators and servers')
    .option('--json', 'print JSON')
    .action(
      run(false, async (target, cmd) => {
        const shown = await target.show();
        print(cmd.opts<{ json?: boolean }>().json, shown, () =>
          [
            `version ${shown.version}`,
            ...Object.entries(shown.settings).map(([k, v]) => `${k} = ${String(v)}`),
            `keys: ${shown.keys.map((k) => k.name).join(', ') || '(none)'}`,
            `operators: ${shown.operators.map((o) => `${o.name} (${o.role})`).join(', ') || '(none)'}`,
            `servers: ${shown.servers.map((s) => `${s.address} w=${s.weight}${s.enabled ? '' : ' disabled'}${s.secondary ? ' secondary' : ''}`).join(', ') || '(none)'}`,
          ].join('\n'),
        );
      }),
    );

  addDeviceCommands(config, run);
  return config;
}
