import { basename } from 'node:path';
import { Command } from 'commander';
import type { ControlClient } from '../control/controlClient.js';
import { download, parseCopy, upload } from '../control/copy.js';
import { printable } from './printable.js';
import { progressBar } from './progressBar.js';

/** `control cp`: one file between here and a client's --allow-files directory, checked by SHA-256. */
export function cpCommand(connect: (cmd: Command) => Promise<ControlClient>): Command {
  return new Command('cp')
    .description(
      "copy a file to or from a client's --allow-files directory (cp LOCAL CLIENT:PATH, cp CLIENT:PATH LOCAL); checked end to end by SHA-256, kept only when whole",
    )
    .argument('<source>', 'LOCAL or CLIENT:PATH')
    .argument('<destination>', 'CLIENT:PATH or LOCAL (a directory keeps the name)')
    .option('--json', 'print the result as JSON')
    .action(async (source: string, destination: string, opts: { json?: boolean }, cmd: Command) => {
      const plan = parseCopy(source, destination);
      const control = await connect(cmd);
      const bar = progressBar(printable(basename(plan.op === 'put' ? plan.local : plan.path)));
      try {
        const result =
          plan.op === 'put'
            ? await upload(control, plan.local, plan.client, plan.path, bar.update)
            : await download(control, plan.client, plan.path, plan.local, bar.update);
        bar.finish();
        const where = plan.op === 'put' ? `${plan.client}:${result.path}` : result.path;
        process.stdout.write(
          opts.json
            ? JSON.stringify({ op: plan.op, client: plan.client, ...result }) + '\n'
            : `copied ${result.size} bytes to ${printable(where)} (sha256 ${result.sha256})\n`,
        );
      } finally {
        bar.finish();
        control.close();
      }
    });
}
