import { spawn } from 'node:child_process';

/**
 * How node must run Switchboard for relaying to be fast, whatever starts it (the bin's shebang, a
 * systemd unit, or a user typing `node bin/switchboard.js`): measured in docs/benchmarks.md, a
 * server without these costs about 2.7x the CPU per GB relayed.
 *
 * The larger initial old space keeps V8 from running a full collection every few tens of MB of
 * relayed data. The trim threshold keeps up to 64 MB of freed heap for reuse: V8 frees relayed read
 * buffers in batches of about 32 MB, and glibc's default (128 KB) hands those pages back to the
 * kernel only to fault them in again. Both are read when the process starts, so a process started
 * without them can only get them by starting again.
 */
export const RELAY_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=64'];
export const RELAY_NODE_ENV: Readonly<Record<string, string>> = { MALLOC_TRIM_THRESHOLD_: '67108864' };

/** Set in the restarted process only, so that a process that still lacks the settings does not restart for ever. */
const RESPAWNED = 'SWITCHBOARD_RESPAWNED';

/** The flags and variables this process lacks (a value the user set, even another one, counts as set). */
export function missingRuntime(
  execArgv: readonly string[],
  env: NodeJS.ProcessEnv,
): { flags: string[]; env: Record<string, string> } {
  const flags = RELAY_NODE_FLAGS.filter((flag) => !execArgv.some((a) => a.split('=')[0] === flag.split('=')[0]));
  const vars = Object.fromEntries(Object.entries(RELAY_NODE_ENV).filter(([name]) => env[name] === undefined));
  return { flags, env: vars };
}

/** Whether to start again with the settings: only when some are missing, and only once. */
export function shouldRespawn(execArgv: readonly string[], env: NodeJS.ProcessEnv): boolean {
  if (env[RESPAWNED] !== undefined) return false;
  const missing = missingRuntime(execArgv, env);
  return missing.flags.length > 0 || Object.keys(missing.env).length > 0;
}

/** Forgets the marker, so that a Switchboard started by this one (an exec session) decides for itself. */
export function clearRespawnMarker(env: NodeJS.ProcessEnv): void {
  delete env[RESPAWNED];
}

const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

/**
 * Runs `entry` again in a child node with the missing settings, stdio inherited; signals sent to
 * this process go to the child, and this process ends as the child did (same code, same signal).
 */
export function respawn(entry: string): void {
  const missing = missingRuntime(process.execArgv, process.env);
  const child = spawn(process.execPath, [...missing.flags, ...process.execArgv, entry, ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, ...missing.env, [RESPAWNED]: '1' },
  });
  // Ctrl-C at a terminal reaches the whole process group, the child included: forwarding it too
  // would make a second SIGINT that cuts the child's orderly shutdown short.
  const forward = (signal: NodeJS.Signals) => {
    if (signal !== 'SIGINT' || !process.stdin.isTTY) child.kill(signal);
  };
  for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
  child.on('error', (err) => {
    process.stderr.write(`switchboard: cannot start ${process.execPath}: ${err.message}\n`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    for (const s of FORWARDED_SIGNALS) process.off(s, forward);
    if (signal) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
}
