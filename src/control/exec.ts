import type { Readable, Writable } from 'node:stream';
import { ErrorCodes, SwitchboardError } from '../protocol/errors.js';
import { encodeStdin, encodeStdinEnd, ExecChannel, ExecFrameDecoder, type ExecExit } from '../protocol/execFrames.js';
import type { ControlClient } from './controlClient.js';

export interface ExecStreams {
  stdin?: Readable;
  stdout: Writable;
  stderr: Writable;
}

/**
 * Runs a command on a client: stdin goes up as raw bytes, stdout and stderr come back as frames and
 * are written to the given streams (with backpressure), and the promise resolves to the exit status.
 */
export async function runExec(
  control: ControlClient,
  clientName: string,
  command: string[],
  io: ExecStreams,
): Promise<ExecExit> {
  const socket = await control.open(clientName, { kind: 'exec', command });
  // stdin goes up as frames and its end as a frame, not a half-close: a proxy may not keep a
  // half-closed tunnel open. The client half-closes after the exit frame; then we close too.
  const stdin = io.stdin;
  const onStdin = (chunk: Buffer | string) => {
    if (!socket.writable) return;
    if (!socket.write(encodeStdin(Buffer.from(chunk)))) {
      stdin?.pause();
      socket.once('drain', () => stdin?.resume());
    }
  };
  const onStdinEnd = () => {
    if (socket.writable) socket.write(encodeStdinEnd());
  };
  if (stdin) {
    stdin.on('data', onStdin);
    stdin.once('end', onStdinEnd);
  } else onStdinEnd();
  socket.once('end', () => socket.end());
  const decoder = new ExecFrameDecoder();
  return new Promise((resolve, reject) => {
    let exit: ExecExit | undefined;
    socket.on('data', (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        if (frame.channel === ExecChannel.exit) exit = frame.exit;
        else {
          const out = frame.channel === ExecChannel.stdout ? io.stdout : io.stderr;
          if (!out.write(frame.data)) {
            socket.pause();
            out.once('drain', () => socket.resume());
          }
        }
      }
      if (decoder.error) socket.destroy(new SwitchboardError(ErrorCodes.BAD_MESSAGE, decoder.error));
    });
    socket.on('error', reject);
    socket.on('close', () => {
      stdin?.off('data', onStdin);
      stdin?.off('end', onStdinEnd);
      stdin?.pause();
      if (exit) resolve(exit);
      else
        reject(
          new SwitchboardError(
            ErrorCodes.CONNECT_FAILED,
            'the session ended before the command reported its exit status',
          ),
        );
    });
  });
}
