import { Command } from 'commander';
import { newSecret } from '../protocol/proof.js';
import { ConfigStore, type OperatorRole } from '../store/configStore.js';
import { hashPassword } from '../store/passwords.js';
import { newTotpSecret, totpUri } from '../store/totp.js';
import { readPassword, table } from './common.js';

interface ConfigFlags {
  data?: string;
  gateway?: string;
}

const ACTOR = 'cli';

/**
 * Edits the configuration in a data directory. A running server sees the change within a fraction
 * of a second (it watches the store), so no restart is needed.
 */
function withStore<T>(cmd: Command, fn: (store: ConfigStore) => T | Promise<T>, writes = true): Promise<T> {
  const flags = cmd.optsWithGlobals<ConfigFlags>();
  if (!flags.data) throw new Error('--data DIR is required');
  const store = ConfigStore.open(flags.data);
  // Configuration has one writer at a time: the acting primary. A member's copy is replicated.
  if (writes && ['member', 'standby'].includes(store.meta('role') ?? '')) {
    const primary = store.meta('primary') ?? '';
    store.close();
    return Promise.reject(new Error(`this data directory belongs to a cluster member; change the configuration on the primary ${primary}`.trim()));
  }
  return Promise.resolve(fn(store)).finally(() => store.close());
}

function print(json: boolean | undefined, value: unknown, text: () => string): void {
  process.stdout.write((json ? JSON.stringify(value, null, 2) : text()) + '\n');
}

export function configCommand(env: NodeJS.ProcessEnv): Command {
  const config = new Command('config')
    .description('edit keys, operators, the server table and settings')
    .option('--data <dir>', "the server's data directory (offline, or while it runs)")
    .enablePositionalOptions();

  const key = config.command('key').description('connectivity keys');
  key
    .command('add')
    .argument('<name>')
    .option('--value <secret>', 'the key itself (default: 32 random bytes)')
    .action((name: string, opts: { value?: string }, cmd: Command) =>
      withStore(cmd, (store) => {
        const added = store.addKey(name, opts.value ?? newSecret());
        store.audit(ACTOR, 'key.add', { name });
        process.stdout.write(`${added.value}\n`);
      }),
    );
  key
    .command('list')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }, cmd: Command) =>
      withStore(cmd, (store) => {
        const keys = store.keys();
        print(opts.json, keys, () => table(['NAME', 'VALUE', 'CREATED'], keys.map((k) => [k.name, k.value, k.createdAt])));
      }, false),
    );
  key
    .command('remove')
    .argument('<name>')
    .action((name: string, _o: unknown, cmd: Command) =>
      withStore(cmd, (store) => {
        store.removeKey(name);
        store.audit(ACTOR, 'key.remove', { name });
      }),
    );

  const operator = config.command('operator').description('operator accounts for controls and the console');
  operator
    .command('add')
    .argument('<name>')
    .option('--role <role>', 'admin | operator', 'operator')
    .option('--keys <names>', 'keys whose clients this operator may reach, comma-separated')
    .option('--password-stdin', 'read the password from stdin')
    .option('--password-env <var>', 'read the password from this environment variable')
    .action(async (name: string, opts: { role: string; keys?: string; passwordStdin?: boolean; passwordEnv?: string }, cmd: Command) => {
      if (opts.role !== 'admin' && opts.role !== 'operator') throw new Error('--role must be admin or operator');
      const password = await readPassword(opts, env);
      if (!password) throw new Error('a password is required: --password-stdin or --password-env VAR');
      if (password.length < 8) throw new Error('the password must be at least 8 characters');
      const passwordHash = await hashPassword(password);
      await withStore(cmd, (store) => {
        const keys = opts.keys ? opts.keys.split(',').map((k) => k.trim()).filter(Boolean) : [];
        const known = new Set(store.keys().map((k) => k.name));
        const unknown = keys.filter((k) => !known.has(k));
        if (unknown.length) throw new Error(`no such key: ${unknown.join(', ')}`);
        store.putOperator({ name, passwordHash, role: opts.role as OperatorRole, keys });
        store.audit(ACTOR, 'operator.add', { name, role: opts.role, keys });
      });
    });
  operator
    .command('totp')
    .argument('<name>')
    .description('enrol the operator in TOTP and print the otpauth:// URI to scan')
    .action((name: string, _o: unknown, cmd: Command) =>
      withStore(cmd, (store) => {
        const secret = newTotpSecret();
        store.setOperatorTotp(name, secret);
        store.audit(ACTOR, 'operator.totp', { name });
        process.stdout.write(`${totpUri(name, secret)}\n`);
      }),
    );
  operator
    .command('list')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }, cmd: Command) =>
      withStore(cmd, (store) => {
        const ops = store.operators();
        print(opts.json, ops, () => table(['NAME', 'ROLE', 'KEYS', 'TOTP', 'CREATED'], ops.map((o) => [o.name, o.role, o.role === 'admin' ? '(all)' : o.keys.join(','), o.hasTotp ? 'yes' : 'no', o.createdAt])));
      }, false),
    );
  operator
    .command('remove')
    .argument('<name>')
    .action((name: string, _o: unknown, cmd: Command) =>
      withStore(cmd, (store) => {
        store.removeOperator(name);
        store.audit(ACTOR, 'operator.remove', { name });
      }),
    );

  const server = config.command('server').description("the primary's server table");
  const weightOf = (text: string) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--weight must be a whole number, 0 or more: ${text}`);
    return n;
  };
  server
    .command('add')
    .argument('<host:port>')
    .option('--weight <n>', 'relative share of clients', '1000')
    .option('--secondary', 'this member takes over if the primary fails')
    .option('--disabled', 'add it disabled')
    .action((address: string, opts: { weight: string; secondary?: boolean; disabled?: boolean }, cmd: Command) =>
      withStore(cmd, (store) => {
        const row = { address, weight: weightOf(opts.weight), enabled: !opts.disabled, secondary: Boolean(opts.secondary) };
        store.addServer(row);
        store.audit(ACTOR, 'server.add', { ...row });
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
    .action((address: string, opts: { weight?: string; secondary?: boolean; enabled?: boolean; disabled?: boolean }, cmd: Command) =>
      withStore(cmd, (store) => {
        const patch: { weight?: number; secondary?: boolean; enabled?: boolean } = {};
        if (opts.weight !== undefined) patch.weight = weightOf(opts.weight);
        if (opts.secondary !== undefined) patch.secondary = opts.secondary;
        if (opts.enabled) patch.enabled = true;
        if (opts.disabled) patch.enabled = false;
        const row = store.setServer(address, patch);
        store.audit(ACTOR, 'server.set', { ...row });
      }),
    );
  server
    .command('remove')
    .argument('<host:port>')
    .action((address: string, _o: unknown, cmd: Command) =>
      withStore(cmd, (store) => {
        store.removeServer(address);
        store.audit(ACTOR, 'server.remove', { address });
      }),
    );
  server
    .command('list')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }, cmd: Command) =>
      withStore(cmd, (store) => {
        const rows = store.servers();
        print(opts.json, rows, () => table(['ADDRESS', 'WEIGHT', 'ENABLED', 'SECONDARY'], rows.map((s) => [s.address, String(s.weight), s.enabled ? 'yes' : 'no', s.secondary ? 'yes' : ''])));
      }, false),
    );

  config
    .command('set')
    .argument('<setting>', 'primary-weight | require-tls | heartbeat | hello-timeout | lockout-attempts')
    .argument('<value>')
    .action((name: string, value: string, _o: unknown, cmd: Command) =>
      withStore(cmd, (store) => {
        const parsed = store.setSetting(name, value);
        store.audit(ACTOR, 'setting.set', { name, value: parsed });
      }),
    );

  config
    .command('show')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }, cmd: Command) =>
      withStore(cmd, (store) => {
        const shown = {
          version: store.version(),
          settings: store.settings(),
          keys: store.keys().map((k) => ({ name: k.name, createdAt: k.createdAt })),
          operators: store.operators(),
          servers: store.servers(),
        };
        print(opts.json, shown, () =>
          [
            `version ${shown.version}`,
            ...Object.entries(shown.settings).map(([k, v]) => `${k} = ${String(v)}`),
            `keys: ${shown.keys.map((k) => k.name).join(', ') || '(none)'}`,
            `operators: ${shown.operators.map((o) => `${o.name} (${o.role})`).join(', ') || '(none)'}`,
            `servers: ${shown.servers.map((s) => `${s.address} w=${s.weight}${s.enabled ? '' : ' disabled'}${s.secondary ? ' secondary' : ''}`).join(', ') || '(none)'}`,
          ].join('\n'),
        );
      }, false),
    );

  return config;
}
