import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { ErrorCodes, SwitchboardError } from '../protocol/errors.js';
import { encodeExecFrame, encodeExit, ExecChannel, ExecInputDecoder } from '../protocol/execFrames.js';
import type { SessionTarget } from '../protocol/messages.js';
import { splice } from '../net/splice.js';
import { prepareFiles } from './fileSession.js';
import type { LocalPolicy } from './policy.js';
import { prepareShell } from './shellSession.js';

/**
 * The client's end of a session: first the local resource is opened (so a refused port becomes a
 * clear error at the control, not a silent close), then the data connection, then the two are joined.
 */
export interface PreparedSession {
  attach(data: Duplex): void;
  abort(): void;
}

export function prepareSession(
  target: SessionTarget,
  policy?: Pick<LocalPolicy, 'allowFiles'>,
): Promise<PreparedSession> {
  if (target.kind === 'files') return prepareFiles(target, policy?.allowFiles);
  if (target.kind === 'shell') return Promise.resolve().then(() => prepareShell(target));
  return target.kind === 'forward'
    ? prepareForward(target.port, target.host ?? '127.0.0.1')
    : Promise.resolve(prepareExec(target.command));
}

function prepareForward(port: number, host: string): Promise<PreparedSession> {
  return new Promise((resolve, reject) => {
    const local = net.connect({ host, port, allowHalfOpen: true });
    local.setNoDelay(true);
    const onError = (err: Error) =>
      reject(
        new SwitchboardError(ErrorCodes.CONNECT_FAILED, `cannot connect to port ${port} on the client: ${err.message}`),
      );
    local.once('error', onError);
    local.once('connect', () => {
      local.off('error', onError);
      local.pause();
      resolve({ attach: (data) => splice(data, local), abort: () => local.destroy() });
    });
  });
}

/** After SIGTERM, a command (and whatever it started) has this long to exit before SIGKILL. */
export const EXEC_KILL_GRACE_MS = 5_000;

/**
 * Ends a command and everything it started: it was spawned leading a process group of its own, so
 * `sh -c 'a | b'` and its children get the signals too. TERM first, KILL after a grace period.
 */
function endCommand(child: ChildProcess): void {
  const signalAll = (signal: NodeJS.Signals) => {
    try {
      if (process.platform === 'win32' || child.pid === undefined) child.kill(signal);
      else process.kill(-child.pid, signal);
    } catch {
      /* the group is gone already */
    }
  };
  signalAll('SIGTERM');
  setTimeout(() => signalAll('SIGKILL'), EXEC_KILL_GRACE_MS).unref();
}

/**
 * Runs a command with its stdin fed from the session and its stdout, stderr and exit status sent
 * back as frames. When the socket cannot take more, the command's output is paused. The session's
 * end (the peer's EOF, a close or an error, whichever comes first) ends the command: stdin's end is
 * a frame of its own, so an EOF from the peer before the command is done means nobody waits for it
 * any more (the control is gone, its ticket was never claimed, or the API's deadline passed).
 */
function prepareExec(command: string[]): PreparedSession {
  return {
    abort: () => undefined,
    attach(socket) {
      const [file, ...args] = command as [string, ...string[]];
      // detached: the command leads its own process group, so that all of it can be ended.
      const child = spawn(file, args, {
        stdio: ['pipe', 'pipe', 'pipe'],
        windowsHide: true,
        detached: process.platform !== 'win32',
      });
      let running = true;
      const sessionEnded = () => {
        if (running) endCommand(child);
        running = false;
      };
      const outputs = [child.stdout, child.stderr];
      const send = (channel: ExecChannel, chunk: Buffer) => {
        if (!socket.write(encodeExecFrame(channel, chunk))) {
          for (const s of outputs) s.pause();
          socket.once('drain', () => outputs.forEach((s) => s.resume()));
        }
      };
      child.stdout.on('data', (chunk: Buffer) => send(ExecChannel.stdout, chunk));
      child.stderr.on('data', (chunk: Buffer) => send(ExecChannel.stderr, chunk));
      // stdin arrives as frames, its end as a frame; see ExecInput.
      const input = new ExecInputDecoder();
      let stdinOpen = true;
      const endStdin = () => {
        if (stdinOpen) child.stdin.end();
        stdinOpen = false;
      };
      socket.on('data', (chunk: Buffer) => {
        for (const frame of input.push(chunk)) {
          if (!stdinOpen) continue;
          if (frame.end) endStdin();
          else if (!child.stdin.write(frame.data)) {
            socket.pause();
            child.stdin.once('drain', () => socket.resume());
          }
        }
        if (input.error) socket.destroy();
      });
      socket.once('end', () => {
        endStdin();
        sessionEnded();
      });
      child.stdin.on('error', () => undefined); // the command may exit without reading its input
      let spawnError: Error | undefined;
      child.once('error', (err) => {
        running = false;
        spawnError = err;
        stdinOpen = false;
        socket.resume();
        send(ExecChannel.stderr, Buffer.from(`cannot run ${file}: ${err.message}\n`));
        socket.end(encodeExit({ code: 127, signal: null }));
      });
      child.once('close', (code, signal) => {
        running = false;
        if (spawnError) return;
        stdinOpen = false;
        socket.resume(); // a stdin write may have paused it; the peer's end must still be read
        socket.end(encodeExit({ code, signal }));
      });
      socket.once('close', sessionEnded);
      socket.on('error', () => socket.destroy());
    },
  };
}
