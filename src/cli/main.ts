import { Command, CommanderError } from 'commander';
import { printableLines } from './printable.js';
import { cliErrorLine, unknownOptionHint } from './errorHints.js';
import { VERSION } from './version.js';

/** The `switchboard` entry point: the only module that reads process.env and argv. */

// Everything Switchboard writes (the store and its WAL, TLS keys, client identities) holds
// secrets: owner-only, whatever the caller's umask.
process.umask(0o077);
const program = new Command('switchboard')
  .description('Switchboard: a connectivity server cluster for remote management')
  .version(VERSION)
  .enablePositionalOptions()
  .exitOverride();

/**
 * The top-level commands by name, each loaded only when it is the one run: the server's modules
 * (ACME, X.509, TLS) took a `config` or `control` call from 0.5 s of CPU to 1.3 s just to load.
 * Help, `--version` and a name that is no command load them all, in this order.
 */
const COMMANDS: [names: string[], load: () => Promise<Command[]>][] = [
  [['server'], async () => [(await import('./serverCommand.js')).serverCommand(process.env)]],
  [['config'], async () => [(await import('./configCommand.js')).configCommand(process.env)]],
  [['client'], async () => [(await import('./clientCommand.js')).clientCommand(process.env)]],
  [['control'], async () => [(await import('./controlCommand.js')).controlCommand(process.env)]],
  [['bench'], async () => [(await import('./benchCommand.js')).benchCommand(process.env)]],
  [['tls'], async () => [(await import('./tlsCommand.js')).tlsCommand()]],
  [['backup', 'restore'], async () => (await import('./backupCommand.js')).backupCommands()],
];
const named = COMMANDS.find(([names]) => names.includes(process.argv[2] ?? ''));
for (const [, load] of named ? [named] : COMMANDS) for (const command of await load()) program.addCommand(command);
// An added command does not inherit exitOverride: every refusal of the command line comes to the catch below.
const overrideExits = (command: Command): void => {
  command.exitOverride();
  command.commands.forEach(overrideExits);
};
overrideExits(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) {
    // Commander has printed its own line; a client id read as an option gets a way round it.
    const hint = err.code === 'commander.unknownOption' ? unknownOptionHint(err.message) : undefined;
    if (hint) process.stderr.write(`switchboard: ${printableLines(hint)}\n`);
    process.exit(err.exitCode);
  }
  // The message may echo a server's or a client's text: nothing in it may drive the terminal.
  process.stderr.write(`switchboard: ${printableLines(cliErrorLine(err))}\n`);
  process.exit(1);
});
