import { Command } from 'commander';
import type { ControlClient } from '../control/controlClient.js';
import { runShell } from '../control/shell.js';
import { printable } from './printable.js';

/**
 * `control shell CLIENT`: a terminal on the client (it must run with --allow-shell). The local
 * terminal is put in raw mode, so every key (Ctrl-C, Ctrl-D, arrows) goes to the remote shell;
 * a window resize (SIGWINCH) is passed on; the remote exit status becomes this command's.
 */
export function shellCommand(
  connect: (cmd: Command, env: NodeJS.ProcessEnv, useStdinForPassword?: boolean) => Promise<ControlClient>,
  env: NodeJS.ProcessEnv,
): Command {
  return new Command('shell')
    .description('open an interactive terminal on the client (it must allow it with --allow-shell)')
    .argument('<client>', "the client's name or id")
    .action(async (clientName: string, _opts: unknown, cmd: Command) => {
      const stdin = process.stdin;
      const stdout = process.stdout;
      // The password may only come from the environment here: stdin is the terminal's.
      const client = await connect(cmd, env, false);
      const raw = stdin.isTTY;
      if (raw) stdin.setRawMode(true);
      try {
        const exit = await runShell(client, clientName, {
          input: stdin,
          output: stdout,
          size: () => ({ cols: stdout.columns || 80, rows: stdout.rows || 24 }),
          onResize(listener) {
            stdout.on('resize', listener);
            return () => stdout.off('resize', listener);
          },
        });
        process.exitCode = exit.code ?? 128;
        if (exit.signal) process.stderr.write(`\r\nswitchboard: the shell was killed by ${printable(exit.signal)}\r\n`);
      } finally {
        if (raw) stdin.setRawMode(false);
        client.close();
      }
      stdout.write('', () => process.exit(process.exitCode));
    });
}
