import { Command, CommanderError } from 'commander';
import { backupCommands } from './backupCommand.js';
import { benchCommand } from './benchCommand.js';
import { clientCommand } from './clientCommand.js';
import { configCommand } from './configCommand.js';
import { controlCommand } from './controlCommand.js';
import { printableLines } from './printable.js';
import { cliErrorLine } from './errorHints.js';
import { serverCommand } from './serverCommand.js';
import { tlsCommand } from './tlsCommand.js';
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

program.addCommand(serverCommand(process.env));
program.addCommand(configCommand(process.env));
program.addCommand(clientCommand(process.env));
program.addCommand(controlCommand(process.env));
program.addCommand(benchCommand(process.env));
program.addCommand(tlsCommand());
for (const command of backupCommands()) program.addCommand(command);

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  // The message may echo a server's or a client's text: nothing in it may drive the terminal.
  process.stderr.write(`switchboard: ${printableLines(cliErrorLine(err))}\n`);
  process.exit(1);
});
