import type { Readable, Writable } from 'node:stream';
import { ErrorCodes, SwitchboardError } from '../protocol/errors.js';
import {
  encodeResize,
  encodeShellInput,
  ShellChannel,
  ShellFrameDecoder,
  type ShellExit,
  type WindowSize,
} from '../protocol/shellFrames.js';
import type { ControlClient } from './controlClient.js';

export interface ShellTerminal {
  /** Keystrokes, passed as they are (the caller puts a local terminal in raw mode). */
  input: Readable;
  output: Writable;
  size(): WindowSize;
  /** Calls `listener` whenever the local window changes size; returns how to stop listening. */
  onResize(listener: () => void): () => void;
}

/**
 * Opens a terminal on a client and joins it to a local one: keystrokes go up as input frames (Ctrl-C
 * is a byte like any other: the client's pty makes it SIGINT), window sizes as resize frames, what the
 * terminal shows comes back; resolves to the remote shell's exit status.
 */
export async function runShell(control: ControlClient, clientName: string, term: ShellTerminal): Promise<ShellExit> {
  const socket = await control.open(clientName, { kind: 'shell', ...term.size() });
  const onInput = (chunk: Buffer | string) => {
    if (!socket.writable) return;
    if (!socket.write(encodeShellInput(Buffer.from(chunk)))) {
      term.input.pause();
      socket.once('drain', () => term.input.resume());
    }
  };
  term.input.on('data', onInput);
  const stopResize = term.onResize(() => {
    if (socket.writable) socket.write(encodeResize(term.size()));
  });
  socket.once('end', () => socket.end());
  const decoder = ShellFrameDecoder.fromClient();
  return new Promise((resolve, reject) => {
    let exit: ShellExit | undefined;
    socket.on('data', (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        if (frame.channel === ShellChannel.exit) exit = frame.exit;
        else if (frame.channel === ShellChannel.output && !term.output.write(frame.data)) {
          socket.pause();
          term.output.once('drain', () => socket.resume());
        }
      }
      if (decoder.error) socket.destroy(new SwitchboardError(ErrorCodes.BAD_MESSAGE, decoder.error));
    });
    socket.on('error', reject);
    socket.on('close', () => {
      term.input.off('data', onInput);
      stopResize();
      if (exit) resolve(exit);
      else
        reject(
          new SwitchboardError(
            ErrorCodes.CONNECT_FAILED,
            'the session ended before the shell reported its exit status',
          ),
        );
    });
  });
}
