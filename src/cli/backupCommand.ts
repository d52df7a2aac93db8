import { resolve } from 'node:path';
import { Command } from 'commander';
import { backupStore, restoreStore } from '../store/backup.js';

/** `switchboard backup` and `switchboard restore`: one file that holds a server's whole configuration. */
export function backupCommands(): Command[] {
  const backup = new Command('backup')
    .description("copy a server's store and TLS files into one owner-only file (safe while the server runs)")
    .requiredOption('--data <dir>', "the server's data directory")
    .requiredOption('--out <file>', 'the backup file to write (must not exist)')
    .action(async (flags: { data: string; out: string }) => {
      const { files } = await backupStore(flags.data, flags.out);
      process.stderr.write(
        `backed up ${resolve(flags.data)} to ${resolve(flags.out)} (store${files.map((f) => `, ${f}`).join('')})\n`,
      );
    });
  const restore = new Command('restore')
    .description('make a new data directory from a backup file (never over an existing store)')
    .requiredOption('--from <file>', 'the backup file')
    .requiredOption('--data <dir>', 'the new data directory (absent or empty)')
    .action(async (flags: { from: string; data: string }) => {
      const { files } = await restoreStore(flags.from, flags.data);
      process.stderr.write(
        `restored ${resolve(flags.from)} into ${resolve(flags.data)} (store${files.map((f) => `, ${f}`).join('')})\n`,
      );
    });
  return [backup, restore];
}
