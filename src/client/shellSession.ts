import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, isAbsolute, join } from 'node:path';
import type { Duplex, Readable } from 'node:stream';
import { ErrorCodes, SwitchboardError } from '../protocol/errors.js';
import {
  encodeShellExit,
  encodeShellOutput,
  ShellChannel,
  ShellFrameDecoder,
  type WindowSize,
} from '../protocol/shellFrames.js';
import type { PreparedSession } from './sessionRunner.js';

/**
 * An interactive terminal on the client, as the client's own user, in the client's choice of shell
 * ($SHELL if it names a runnable file, else /bin/sh), started in the user's home directory.
 *
 * The pseudo-terminal comes from util-linux `script` (`script -qfec CMD /dev/null`), not from a
 * native addon such as node-pty: the client also ships as one executable (npm run build:agent,
 * esbuild + postject) where a native addon would have to be built per platform and unpacked at run
 * time, and `script` is in an Essential package on Debian and Ubuntu (bsdutils) and in util-linux on
 * RHEL, so it is there on every Linux machine, even a minimal one without python3. `script` owns the
 * pty; Node cannot ioctl, so a window size is applied with `stty -F /dev/pts/N cols C rows R` against
 * the pty's slave, which makes the kernel send SIGWINCH to the terminal's foreground process group.
 * The pty's path is reported by the wrapper itself on an extra pipe (fd 3) once it runs inside it,
 * rather than guessed from /proc. `-e` makes `script` exit with the shell's status, `-f` flushes at
 * once (keystroke echo must not wait), `-q` keeps its banner out of the session.
 */
const WRAPPER = 'tty >&3; exec 3>&-; SHELL="$SB_SHELL"; export SHELL; unset SB_SHELL; exec "$SHELL" -i';

/** After SIGTERM, `script` (and with it the shell, by SIGHUP) has this long before SIGKILL. */
const KILL_GRACE_MS = 5_000;

function onPath(file: string, env: NodeJS.ProcessEnv): boolean {
  for (const dir of (env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, file), constants.X_OK);
      return true;
    } catch {
      /* not here */
    }
  }
  return false;
}

/** The shell the client's user gets: $SHELL when it is an absolute path to a runnable file (pure but for the check). */
export function chooseShell(env: NodeJS.ProcessEnv): string {
  const shell = env.SHELL;
  if (shell && isAbsolute(shell)) {
    try {
      accessSync(shell, constants.X_OK);
      return shell;
    } catch {
      /* fall back */
    }
  }
  return '/bin/sh';
}

/** Refuses at once, with a clear reason, on a machine that cannot give a terminal this way. */
export function prepareShell(size: WindowSize, env: NodeJS.ProcessEnv = process.env): PreparedSession {
  if (process.platform !== 'linux')
    throw new SwitchboardError(
      ErrorCodes.CONNECT_FAILED,
      `terminal sessions need Linux (this client runs ${process.platform})`,
    );
  for (const tool of ['script', 'stty'])
    if (!onPath(tool, env))
      throw new SwitchboardError(
        ErrorCodes.CONNECT_FAILED,
        `this client cannot open a terminal: ${tool} (util-linux) is not on its PATH`,
      );
  return { abort: () => undefined, attach: (socket) => runShell(socket, size, env) };
}

function runShell(socket: Duplex, initial: WindowSize, env: NodeJS.ProcessEnv): void {
  const shellEnv: NodeJS.ProcessEnv = { ...env, SHELL: '/bin/sh', SB_SHELL: chooseShell(env), TERM: 'xterm-256color' };
  // The window size is the pty's; stale values in the environment would override it for curses programs.
  delete shellEnv.COLUMNS;
  delete shellEnv.LINES;
  const child = spawn('script', ['-qfec', WRAPPER, '/dev/null'], {
    stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    cwd: homedir(),
    env: shellEnv,
    // Its own process group: ending the session signals `script`, never the agent.
    detached: true,
  });
  const resizer = new PtyResizer(initial);
  // Keystrokes are read only once the shell's side of the pty is set up (the wrapper reports it from
  // inside): `script` flushes the pty's input while it sets the terminal up, which would drop typeahead.
  // And only once the pty has the window's size: a command typed at once (`tput cols`) must not see
  // the pty's default size while the first `stty` is still starting on a busy machine.
  readTtyPath(child.stdio[3] as Readable, (tty) => {
    resizer.attach(tty);
    resizer.onSettled(() => socket.on('data', onData));
  });

  let running = true;
  const sessionEnded = () => {
    if (running) endScript(child);
    running = false;
  };
  const outputs = [child.stdout, child.stderr];
  const send = (chunk: Buffer) => {
    if (!socket.write(encodeShellOutput(chunk))) {
      for (const s of outputs) s.pause();
      socket.once('drain', () => outputs.forEach((s) => s.resume()));
    }
  };
  child.stdout.on('data', send);
  child.stderr.on('data', send);
  child.stdin.on('error', () => undefined); // the shell may be gone while keystrokes are in flight

  const input = ShellFrameDecoder.fromControl();
  // Frames apply in order, as on a local terminal where a resize is a synchronous ioctl: keystrokes
  // that follow a resize wait until its `stty` has run, so `tput cols` typed after it sees the size.
  type Frame = ReturnType<typeof input.push>[number];
  const apply = (frames: Frame[]): void => {
    for (let i = 0; i < frames.length; i++) {
      const frame = frames[i]!;
      if (!running) return;
      if (frame.channel === ShellChannel.resize) {
        resizer.resize(frame.size);
        if (!resizer.settled) {
          socket.pause();
          resizer.onSettled(() => {
            socket.resume();
            apply(frames.slice(i + 1));
          });
          return;
        }
      } else if (frame.channel === ShellChannel.input && !child.stdin.write(frame.data)) {
        socket.pause();
        child.stdin.once('drain', () => socket.resume());
      }
    }
  };
  const onData = (chunk: Buffer) => {
    apply(input.push(chunk));
    if (input.error) socket.destroy();
  };
  let spawnError: Error | undefined;
  child.once('error', (err) => {
    running = false;
    spawnError = err;
    send(Buffer.from(`switchboard: cannot start a terminal: ${err.message}\r\n`));
    socket.end(encodeShellExit({ code: 127, signal: null }));
  });
  child.once('close', (code, signal) => {
    running = false;
    if (spawnError) return;
    socket.resume();
    socket.end(encodeShellExit({ code, signal }));
  });
  socket.once('end', sessionEnded);
  socket.once('close', sessionEnded);
  socket.on('error', () => socket.destroy());
}

/** The wrapper's first line on fd 3 is the pty's path, e.g. /dev/pts/3. */
function readTtyPath(stream: Readable, onPath: (tty: string) => void): void {
  let text = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    if (text.includes('\n')) return;
    text += chunk;
    const line = text.split('\n')[0]!;
    if (text.includes('\n') && /^\/dev\/[A-Za-z0-9/]+$/.test(line)) onPath(line);
  });
  stream.on('error', () => undefined);
}

/**
 * Applies window sizes to the pty one `stty` at a time; sizes asked for meanwhile collapse into the
 * latest (a window dragged wider sends dozens), and sizes asked for before the pty is known wait for it.
 */
class PtyResizer {
  private tty: string | undefined;
  private busy = false;
  private applied: WindowSize | undefined;
  private waiters: (() => void)[] = [];

  constructor(private wanted: WindowSize) {}

  /** Whether the pty has the size last asked for. */
  get settled(): boolean {
    const { wanted, applied } = this;
    return applied !== undefined && applied.cols === wanted.cols && applied.rows === wanted.rows;
  }

  /** Runs `then` once the pty has the size last asked for. */
  onSettled(then: () => void): void {
    if (this.settled) then();
    else this.waiters.push(then);
  }

  attach(tty: string): void {
    this.tty = tty;
    this.next();
  }

  resize(size: WindowSize): void {
    this.wanted = size;
    this.next();
  }

  private next(): void {
    if (this.settled) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const then of waiters) then();
      return;
    }
    const { tty, wanted } = this;
    if (!tty || this.busy) return;
    this.busy = true;
    const stty = spawn('stty', ['-F', tty, 'cols', String(wanted.cols), 'rows', String(wanted.rows)], {
      stdio: 'ignore',
    });
    const done = () => {
      this.busy = false;
      this.applied = wanted;
      this.next();
    };
    stty.once('error', done);
    stty.once('close', done);
  }
}

function endScript(child: ChildProcess): void {
  const signalAll = (signal: NodeJS.Signals) => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, signal);
    } catch {
      /* gone already */
    }
  };
  signalAll('SIGTERM');
  setTimeout(() => signalAll('SIGKILL'), KILL_GRACE_MS).unref();
}
