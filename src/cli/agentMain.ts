import { CommanderError } from 'commander';
import { clientCommand } from './clientCommand.js';
import { VERSION } from './version.js';

/**
 * The entry point of `switchboard-agent`, the single executable built by `npm run build:agent`:
 * the client command itself, so the agent takes exactly the flags `switchboard client` takes,
 * whatever they become. Like main.ts, the only module of the agent that reads process.env and argv.
 */

// The client's state directory holds its identity's private key: owner-only, whatever the umask.
process.umask(0o077);
const agent = clientCommand(process.env, { services: false }).name('switchboard-agent').version(VERSION).exitOverride();

agent.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`switchboard-agent: ${message}\n`);
  process.exit(1);
});
