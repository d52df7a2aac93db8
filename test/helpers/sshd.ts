/**
 * A real OpenSSH server for tests: /usr/sbin/sshd in the foreground on a free 127.0.0.1 port, as the
 * current user, with a host key and an authorized_keys made by ssh-keygen in a temporary directory.
 * `.ci/run` installs openssh-server and openssh-client; a missing tool fails the test with a hint.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { findTool, freePort, runTool, type ToolResult } from './external.js';
import { OWN_GROUP, trackChild } from './harness.js';

export interface SshTools {
  sshd: string;
  ssh: string;
  scp: string;
  sshKeygen: string;
}

/** The OpenSSH programs, or an Error naming the one that is missing and how to install it. */
export function sshTools(): SshTools {
  return {
    sshd: findTool('sshd', 'install it with `apt-get install openssh-server` (.ci/run does)'),
    ssh: findTool('ssh', 'install it with `apt-get install openssh-client` (.ci/run does)'),
    scp: findTool('scp', 'install it with `apt-get install openssh-client` (.ci/run does)'),
    sshKeygen: findTool('ssh-keygen', 'install it with `apt-get install openssh-client` (.ci/run does)'),
  };
}

export interface Sshd {
  port: number;
  user: string;
  /** The private key authorized to log in. */
  identity: string;
  log(): string;
  /** Options for ssh and scp that log in with `identity` and trust any host key, ignoring ~/.ssh. */
  clientOptions(): string[];
  /** `ssh -p PORT ... user@127.0.0.1 COMMAND` */
  ssh(port: number, command: string): Promise<ToolResult>;
  /** `scp -P PORT ... FROM TO`; a remote path is written `remote:PATH`. */
  scp(port: number, from: string, to: string): Promise<ToolResult>;
  stop(): Promise<void>;
}

/** sshd run by root insists on its privilege separation directory; make it if it is missing. */
function ensurePrivsepDir(): void {
  const dir = '/run/sshd';
  if (existsSync(dir)) return;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
  } catch (err) {
    if (process.getuid?.() === 0)
      throw new Error(`cannot create sshd's privilege separation directory ${dir}: ${(err as Error).message}`, {
        cause: err,
      });
    // Not root: sshd runs unprivileged and does not chroot, so it does not need the directory.
  }
}

export async function startSshd(dir: string): Promise<Sshd> {
  const tools = sshTools();
  const hostKey = join(dir, 'ssh_host_ed25519_key');
  const identity = join(dir, 'id_ed25519');
  for (const file of [hostKey, identity]) {
    const made = await runTool(tools.sshKeygen, [
      '-q',
      '-t',
      'ed25519',
      '-N',
      '',
      '-C',
      'switchboard-test',
      '-f',
      file,
    ]);
    if (made.code !== 0) throw new Error(`ssh-keygen failed: ${made.stderr}`);
  }
  const authorizedKeys = join(dir, 'authorized_keys');
  writeFileSync(authorizedKeys, readFileSync(`${identity}.pub`), { mode: 0o600 });
  ensurePrivsepDir();
  const user = userInfo().username;

  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const config = join(dir, 'sshd_config');
    writeFileSync(
      config,
      [
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${hostKey}`,
        `AuthorizedKeysFile ${authorizedKeys}`,
        `PidFile ${join(dir, 'sshd.pid')}`,
        'StrictModes no',
        'UsePAM no',
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        `AllowUsers ${user}`,
        'PermitRootLogin prohibit-password',
        'Subsystem sftp internal-sftp',
        'LogLevel VERBOSE',
        '',
      ].join('\n'),
    );
    const child: ChildProcess = trackChild(
      spawn(tools.sshd, ['-D', '-e', '-f', config], { stdio: ['ignore', 'pipe', 'pipe'], ...OWN_GROUP }),
    );
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const stop = async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    };
    const deadline = Date.now() + 10_000;
    let started = false;
    while (!started) {
      if (child.exitCode !== null || child.signalCode !== null) break;
      if (/Server listening on 127\.0\.0\.1 port/.test(output)) started = true;
      else if (Date.now() > deadline) {
        await stop();
        throw new Error(`sshd did not start listening on ${port}: ${output.slice(-2000)}`);
      } else await new Promise((r) => setTimeout(r, 50));
    }
    if (!started) {
      if (/Address already in use/.test(output) && attempt < 2) continue;
      throw new Error(`sshd exited (${child.exitCode ?? child.signalCode}) at start: ${output.slice(-2000)}`);
    }

    const clientOptions = () => [
      '-F',
      '/dev/null',
      '-o',
      'StrictHostKeyChecking=no',
      '-o',
      'UserKnownHostsFile=/dev/null',
      '-o',
      'BatchMode=yes',
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      'ConnectTimeout=20',
      '-o',
      'LogLevel=ERROR',
      '-i',
      identity,
    ];
    // No agent: only the test's own key may be offered.
    const env = { ...process.env, SSH_AUTH_SOCK: '' };
    return {
      port,
      user,
      identity,
      log: () => output,
      clientOptions,
      ssh: (p, command) =>
        runTool(tools.ssh, ['-p', String(p), ...clientOptions(), `${user}@127.0.0.1`, command], {
          env,
          timeoutMs: 60_000,
        }),
      scp: (p, from, to) => {
        const remote = (path: string) =>
          path.startsWith('remote:') ? `${user}@127.0.0.1:${path.slice('remote:'.length)}` : path;
        return runTool(tools.scp, ['-q', '-P', String(p), ...clientOptions(), remote(from), remote(to)], {
          env,
          timeoutMs: 90_000,
        });
      },
      stop,
    };
  }
}
