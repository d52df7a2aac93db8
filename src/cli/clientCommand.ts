import { Command } from 'commander';
import { resolve } from 'node:path';
import { ClientAgent } from '../client/agent.js';
import { loadOrCreateIdentity } from '../client/identity.js';
import { effectiveKey, storeRotatedKey } from '../client/rotatedKey.js';
import { createLogger } from '../server/logger.js';
import { mergeClientFlags, parseClientConfig, type ClientFlagValues } from './clientConfigFile.js';
import { ClientStatusLog } from './clientStatusLog.js';
import { addDialFlags, dialOptions, gatewayAddress, parsePorts, readConfigFile, readKey } from './common.js';
import { clientServiceCommands } from './serviceCommand.js';

interface ClientFlags extends ClientFlagValues {
  config?: string;
}

/** `services`: with `install` and `uninstall` (not in the single-file agent, which has no unit to write). */
export function clientCommand(_env: NodeJS.ProcessEnv, { services = true } = {}): Command {
  const client = addDialFlags(
    new Command('client')
      .description('run the agent on a managed machine: dial out to the gateway and serve sessions')
      .usage(
        `(--gateway HOST:PORT (--key KEY | --key-file FILE) | --config FILE) [options]${services ? '\n       switchboard client install|uninstall ...' : ''}`,
      )
      .option(
        '--config <file>',
        'a TOML file whose keys are these long flag names (a flag given here wins over the file)',
      )
      // Required from the flag or from the file: checked once both are read.
      .option('--gateway <host:port>', 'the primary (or standalone) server')
      .option('--secondary <host:port>', 'the secondary server, tried when the primary does not answer')
      .option('--key <key>', 'connectivity key')
      .option('--key-file <file>', 'file holding the connectivity key')
      .option('--name <name>', "this machine's name as controls see it (default: hostname)")
      .option('--group <group>', 'a group name for browsing', '')
      .option('--state <dir>', 'where the client keeps its stable id', './.switchboard-client')
      .option('--allow-forward <ports>', 'ports on this machine that sessions may reach, e.g. 22,8080')
      .option('--allow-exec', 'allow sessions to run commands on this machine')
      .option('--allow-files <dir>', 'allow sessions to list, read and write files in this directory (control cp)')
      .option('--allow-shell', "allow interactive terminals on this machine, as this client's user in its $SHELL")
      .option('--log-level <level>', 'trace | debug | info | warn | error', 'info'),
  ).enablePositionalOptions();
  if (services) for (const sub of clientServiceCommands()) client.addCommand(sub);
  return client.action((given: ClientFlags, cmd: Command) => {
    // Which values the user typed, which are commander's defaults: the file sits between the two.
    const commandLine: ClientFlagValues = {};
    const defaults: ClientFlagValues = {};
    for (const [name, value] of Object.entries(given)) {
      if (name === 'config') continue;
      Object.assign(cmd.getOptionValueSource(name) === 'cli' ? commandLine : defaults, { [name]: value });
    }
    const file = given.config ? parseClientConfig(given.config, readConfigFile(given.config)) : undefined;
    const flags = mergeClientFlags(defaults, file, commandLine);
    if (!flags.gateway)
      throw new Error('a gateway is required: --gateway HOST:PORT, or "gateway" in the --config file');
    const gateway = gatewayAddress(flags.gateway);
    const logger = createLogger(flags.logLevel ?? 'info');
    // A rotated key's new secret, once handed to us, takes precedence over the configured old one.
    const configuredKey = readKey(flags);
    const agent = new ClientAgent({
      gateway: gateway.address,
      secondary: flags.secondary ? gatewayAddress(flags.secondary).address : undefined,
      key: effectiveKey(flags.state!, configuredKey),
      identity: loadOrCreateIdentity(flags.state!),
      name: flags.name,
      group: flags.group,
      policy: {
        allowForward: new Set(parsePorts(flags.allowForward)),
        allowExec: Boolean(flags.allowExec),
        allowFiles: flags.allowFiles === undefined ? undefined : resolve(flags.allowFiles),
        allowShell: Boolean(flags.allowShell),
      },
      dial: dialOptions(flags, gateway.tls),
      onKeyRotated: (_name, secret) => storeRotatedKey(flags.state!, configuredKey, secret),
    });
    agent.on('keyRotated', (event) =>
      event.stored
        ? logger.info({ key: event.key, state: flags.state }, 'key rotated: new secret stored in the state directory')
        : logger.warn(event, 'key rotated: the new secret could not be kept'),
    );
    const statusLog = new ClientStatusLog();
    agent.on('status', (status, detail) => {
      const { level, msg, fields } = statusLog.decide(status, detail, Date.now());
      logger[level](fields, msg);
    });
    agent.on('session', (event) => logger.info(event, event.refused ? 'session refused' : 'session opened'));
    agent.start();
    const stop = () => {
      agent.stop();
      logger.flush();
      setTimeout(() => process.exit(0), 50);
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
