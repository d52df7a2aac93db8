import { Command } from 'commander';
import { ControlClient } from '../control/controlClient.js';
import { runExec } from '../control/exec.js';
import { DEFAULT_PARALLEL, MAX_PARALLEL } from '../control/multiExec.js';
import { parseForwardSpec, startForward } from '../control/forward.js';
import { ControlPool } from '../control/controlPool.js';
import { ReconnectingControl } from '../control/reconnectingControl.js';
import { looksLikeClientId } from '../protocol/clientIdentity.js';
import { runBrowse, type BrowseFlags } from './browseOutput.js';
import { addDialFlags, table } from './common.js';
import { cpCommand } from './cpCommand.js';
import { MAX_BROWSE_PAGE } from '../protocol/messages.js';
import { connectResolved, loginProfile, logoutProfile, resolveControl, type ControlFlags } from './controlProfile.js';
import { multiExec, parseParallel, splitExecWords, type MultiExecFlags } from './multiExecCommand.js';
import { printable } from './printable.js';
import { profileCommand } from './profileCommand.js';
import { shellCommand } from './shellCommand.js';

async function connect(cmd: Command, env: NodeJS.ProcessEnv, useStdinForPassword = true): Promise<ControlClient> {
  return connectResolved(await resolveControl(cmd.optsWithGlobals<ControlFlags>(), env, useStdinForPassword));
}

export function controlCommand(env: NodeJS.ProcessEnv): Command {
  const control = addDialFlags(
    new Command('control')
      .description("an operator's tool: browse the clients and open sessions to them")
      .option('--gateway <host:port>', 'the primary (or standalone) server (required unless --profile names it)')
      .option(
        '--profile <name>',
        'take the gateway, key, operator, TLS and proxy settings from this profile (see: control profile), and its session after control login',
      )
      .option('--secondary <host:port>', 'the secondary server, used when the primary does not answer')
      .option('--key <key>', 'connectivity key')
      .option('--key-file <file>', 'file holding the connectivity key')
      .option('--operator <name>', 'operator name (required once operators exist)')
      .option('--password-env <var>', "environment variable holding the operator's password")
      .option('--password-stdin', "read the operator's password from stdin")
      .option('--totp <code>', 'the current TOTP code, for operators enrolled in TOTP'),
  ).enablePositionalOptions();

  control
    .command('browse')
    .description('list the clients of your key, with the server each is on')
    .option('--json', 'print JSON')
    .option('--group <group>', 'only this group')
    .option('--filter <text>', 'only clients whose name, id, group, platform or address contains this')
    .option('--all', 'offline devices too, with when each was last seen (not paged)')
    .option('--state <state>', 'which clients: online (the default)')
    .option('--limit <n>', `one page of at most n clients (1-${MAX_BROWSE_PAGE}); without it, every page in turn`)
    .option('--cursor <cursor>', 'the page after this cursor (printed with the previous page)')
    .action(async (opts: BrowseFlags, cmd: Command) => {
      const client = await connect(cmd, env);
      try {
        await runBrowse(client, opts, process.stdout, process.stderr);
      } finally {
        client.close();
      }
    });

  control
    .command('servers')
    .description('the servers of the cluster: weight, status, clients and sessions on each')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const client = await connect(cmd, env);
      const servers = await client.servers();
      client.close();
      if (opts.json) return void process.stdout.write(JSON.stringify(servers, null, 2) + '\n');
      process.stdout.write(
        table(
          ['ADDRESS', 'ROLE', 'WEIGHT', 'ENABLED', 'SECONDARY', 'STATUS', 'CLIENTS', 'SESSIONS'],
          servers.map((s) => [
            s.address,
            s.role,
            String(s.weight),
            s.enabled ? 'yes' : 'no',
            s.secondary ? 'yes' : '',
            s.status,
            String(s.clients),
            String(s.sessions),
          ]),
        ) + '\n',
      );
    });

  control
    .command('forward')
    .description('listen on a local port; each connection becomes a session to REMOTE_PORT on the client')
    .argument('<client>', "the client's name or id")
    .argument('<spec>', '[BIND:]LOCAL_PORT:REMOTE_PORT')
    .action(async (clientName: string, specText: string, _opts: unknown, cmd: Command) => {
      const spec = parseForwardSpec(specText);
      const resolved = await resolveControl(cmd.optsWithGlobals<ControlFlags>(), env);
      const first = await connectResolved(resolved);
      // Fail now, not at the first connection, if the client is unknown.
      const known = await first.browse();
      // The server's rule (Directory.resolve): text shaped like an id is never taken for a name.
      if (!known.some((c) => c.id === clientName || (!looksLikeClientId(clientName) && c.name === clientName)))
        throw new Error(`no client ${clientName}`);
      // A forward runs for hours: when its server goes away, the next session dials again.
      // ... unless the server refused it for good (operator revoked, password changed): then it stops, saying why.
      const stopped = (err: Error) => {
        process.stderr.write(`switchboard: forward stopped: ${printable(err.message)}\n`);
        process.exit(1);
      };
      // Past one control's budget of sessions, more controls (controlPool.ts), the same login each.
      const client = new ControlPool(
        new ReconnectingControl(first, resolved.options, stopped),
        async (onFinal) =>
          new ReconnectingControl(await ControlClient.connect(resolved.options), resolved.options, onFinal),
        {
          noExtraBecause:
            resolved.options.totp !== undefined && resolved.options.token === undefined
              ? 'a TOTP code logs in once; `control --profile NAME login` lets a forward open more'
              : undefined,
        },
      );
      const server = await startForward(client, clientName, spec, {
        onSession: (e) => {
          if (!e.ok)
            process.stderr.write(
              `switchboard: session to ${printable(clientName)}:${spec.remotePort} failed: ${printable(String(e.error))}\n`,
            );
        },
      });
      const address = server.address() as { address: string; port: number };
      process.stdout.write(
        JSON.stringify({
          msg: 'forwarding',
          listen: `${address.address}:${address.port}`,
          client: clientName,
          port: spec.remotePort,
        }) + '\n',
      );
      const stop = () => {
        server.close();
        client.close();
        process.exit(0);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });

  control
    .command('exec')
    .description(
      'run a command on the client; its stdout, stderr and exit code come back. With --group or several clients (exec [--group G] CLIENT... -- CMD), on each of them: a table of results',
    )
    .argument('<client>', "the client's name or id")
    .argument('<command...>', 'the command and its arguments (after --)')
    .option('--group <group>', 'run on every connected client of this group (then CLIENT is optional)')
    .option(
      '--parallel <n>',
      `clients at once with --group or several clients (1-${MAX_PARALLEL})`,
      parseParallel,
      DEFAULT_PARALLEL,
    )
    .option('--json', 'print the results as one JSON document')
    .passThroughOptions()
    .action(async (clientName: string, rest: string[], opts: MultiExecFlags, cmd: Command) => {
      const { targets, command } = splitExecWords([clientName, ...rest], opts.group !== undefined);
      if (command.length === 0) throw new Error('exec needs a command: exec CLIENT -- COMMAND [ARGS...]');
      if (opts.group !== undefined || targets.length !== 1 || opts.json) {
        const control = await connect(cmd, env, false);
        const status = await multiExec(control, targets, command, opts);
        control.close();
        process.exitCode = status;
        return void process.stdout.write('', () => process.exit(status));
      }
      const clientName1 = targets[0]!;
      const client = await connect(cmd, env, false);
      const exit = await runExec(client, clientName1, command, {
        stdin: process.stdin.isTTY ? undefined : process.stdin,
        stdout: process.stdout,
        stderr: process.stderr,
      });
      client.close();
      process.exitCode = exit.code ?? 128;
      if (exit.signal) process.stderr.write(`switchboard: the command was killed by ${printable(exit.signal)}\n`);
      // stdin may hold the event loop open; the command is over.
      // Exit once everything written to stdout is out (a pipe may still hold the tail).
      process.stdout.write('', () => process.exit(process.exitCode));
    });

  control.addCommand(shellCommand(connect, env));
  control.addCommand(profileCommand(env));
  control.addCommand(cpCommand((cmd) => connect(cmd, env)));

  control
    .command('login')
    .description(
      "log in once with --profile NAME: asks the operator's password (--password-env, or stdin) and keeps a session token, owner-only, so the next commands need no password",
    )
    .option('--operator <name>', "operator name (else the profile's)")
    .option('--password-env <var>', "environment variable holding the operator's password")
    .option('--password-stdin', "read the operator's password from stdin (the default when stdin is not a terminal)")
    .option('--totp <code>', 'the current TOTP code, for operators enrolled in TOTP')
    .action(async (_opts: unknown, cmd: Command) => {
      const flags = cmd.optsWithGlobals<ControlFlags>();
      const saved = await loginProfile(flags, env);
      process.stdout.write(
        `logged in as ${saved.operator} on ${saved.gateway}; the session ends ${saved.expiresAt} unless used (or at logout)\n`,
      );
    });

  control
    .command('logout')
    .description('end the session of --profile NAME, on the server too')
    .action(async (_opts: unknown, cmd: Command) => {
      const flags = cmd.optsWithGlobals<ControlFlags>();
      const outcome = await logoutProfile(flags, env);
      process.stdout.write(
        outcome === 'ended' ? `logged out of profile ${flags.profile}\n` : `profile ${flags.profile} had no session\n`,
      );
    });

  return control;
}
