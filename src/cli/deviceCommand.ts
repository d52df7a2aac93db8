import type { Command } from 'commander';
import type { ConfigTarget } from '../store/configTarget.js';
import type { DeviceListing } from '../store/deviceTarget.js';
import { table } from './common.js';
import { printableLines } from './printable.js';

type Run = (
  writes: boolean,
  fn: (target: ConfigTarget, cmd: Command) => Promise<void>,
) => (...args: unknown[]) => Promise<void>;

function show(json: boolean | undefined, devices: DeviceListing[]): void {
  const text = json
    ? JSON.stringify(devices, null, 2)
    : printableLines(
        table(
          ['NAME', 'ID', 'STATE', 'GROUP', 'KEY', 'PLATFORM', 'LAST SEEN', 'LAST ADDRESS', 'SERVER'],
          devices.map((d) => [
            d.name,
            d.id,
            d.state,
            d.group,
            d.key,
            d.platform,
            d.state === 'online' ? 'now' : d.lastSeen,
            d.lastAddress,
            d.server,
          ]),
        ),
      );
  process.stdout.write(text + '\n');
}

/** `config device ...`: known devices, their revocation, approval, name, and forgetting them. */
export function addDeviceCommands(config: Command, run: Run): void {
  const device = config
    .command('device')
    .description('known devices (client identities): list, revoke, unrevoke, approve, rename, remove');
  device
    .command('list')
    .description('every device the cluster admitted, online or not, with when it was last seen')
    .option('--offline', 'only devices not connected now')
    .option('--pending', 'only devices waiting for approval')
    .option('--json', 'print JSON')
    .action(
      run(false, async (target, cmd) => {
        const opts = cmd.opts<{ offline?: boolean; pending?: boolean; json?: boolean }>();
        let devices = await target.deviceTarget().devices();
        // From a data directory nobody can tell who is connected: every device not known online is listed.
        if (opts.offline) devices = devices.filter((d) => d.state !== 'online');
        if (opts.pending) devices = devices.filter((d) => d.state === 'pending');
        show(opts.json, devices);
      }),
    );
  const change = (name: 'revoke' | 'unrevoke' | 'approve', description: string) =>
    device
      .command(name)
      .description(description)
      .argument('<id>')
      .option('--json', 'print the device as JSON')
      .action(
        run(true, async (target, cmd) => {
          const d = await target.deviceTarget()[name](cmd.args[0]!);
          show(cmd.opts<{ json?: boolean }>().json, [d]);
        }),
      );
  change('revoke', 'refuse the device on every server (at its hello; a live connection is closed within seconds)');
  change('unrevoke', 'let a revoked device in again');
  change('approve', 'admit a device that waits for approval (device-approval on)');
  device
    .command('rename')
    .description("an admin's name for the device: it wins over the name the client reports")
    .argument('<id>')
    .argument('<name>')
    .option('--json', 'print the device as JSON')
    .action(
      run(true, async (target, cmd) => {
        const d = await target.deviceTarget().rename(cmd.args[0]!, cmd.args[1]!);
        show(cmd.opts<{ json?: boolean }>().json, [d]);
      }),
    );
  device
    .command('remove')
    .description('forget a device (not a revoked one: unrevoke it first)')
    .argument('<id>')
    .action(run(true, (target, cmd) => target.deviceTarget().remove(cmd.args[0]!)));
}
