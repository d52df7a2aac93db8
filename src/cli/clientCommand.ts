import { Command } from 'commander';
import { ClientAgent } from '../client/agent.js';
import { loadOrCreateIdentity } from '../client/identity.js';
import { createLogger } from '../server/logger.js';
import { addDialFlags, dialOptions, gatewayAddress, parsePorts, readKey, type DialFlags } from './common.js';

interface ClientFlags extends DialFlags {
  gateway: string;
  secondary?: string;
  key?: string;
  keyFile?: string;
  name?: string;
  group?: string;
  state: string;
  allowForward?: string;
  allowExec?: boolean;
  logLevel: string;
}

export function clientCommand(_env: NodeJS.ProcessEnv): Command {
  return addDialFlags(
    new Command('client')
      .description('run the agent on a managed machine: dial out to the gateway and serve sessions')
      .requiredOption('--gateway <host:port>', 'the primary (or standalone) server')
      .option('--secondary <host:port>', 'the secondary server, tried when the primary does not answer')
      .option('--key <key>', 'connectivity key')
      .option('--key-file <file>', 'file holding the connectivity key')
      .option('--name <name>', "this machine's name as controls see it (default: hostname)")
      .option('--group <group>', 'a group name for browsing', '')
      .option('--state <dir>', 'where the client keeps its stable id', './.switchboard-client')
      .option('--allow-forward <ports>', 'ports on this machine that sessions may reach, e.g. 22,8080')
      .option('--allow-exec', 'allow sessions to run commands on this machine')
      .option('--log-level <level>', 'trace | debug | info | warn | error', 'info'),
  ).action((flags: ClientFlags) => {
    const gateway = gatewayAddress(flags.gateway);
    const logger = createLogger(flags.logLevel);
    const agent = new ClientAgent({
      gateway: gateway.address,
      secondary: flags.secondary ? gatewayAddress(flags.secondary).address : undefined,
      key: readKey(flags),
      identity: loadOrCreateIdentity(flags.state),
      name: flags.name,
      group: flags.group,
      policy: { allowForward: new Set(parsePorts(flags.allowForward)), allowExec: Boolean(flags.allowExec) },
      dial: dialOptions(flags, gateway.tls),
    });
    agent.on('status', (status, detail) => logger.info({ status, ...detail }, `client ${status}`));
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
