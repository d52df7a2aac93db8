import { encodeExitPayload, encodeFrame, encodeSplit, FrameDecoder, parseExit, type ExitStatus } from './frames.js';

/**
 * The byte stream of an exec session, from client to control, in the shared framing (frames.ts).
 * Channels: stdout, stderr, and exit (payload: a JSON `{ code, signal }`).
 * Control → client is the command's stdin, framed the same way (see ExecInput below).
 */
export const ExecChannel = { stdout: 1, stderr: 2, exit: 3 } as const;
export type ExecChannel = (typeof ExecChannel)[keyof typeof ExecChannel];

export const MAX_EXEC_FRAME = 1024 * 1024;

export type ExecExit = ExitStatus;

export type ExecFrame =
  | { channel: typeof ExecChannel.stdout | typeof ExecChannel.stderr; data: Buffer }
  | { channel: typeof ExecChannel.exit; exit: ExecExit };

export function encodeExecFrame(channel: ExecChannel, payload: Buffer): Buffer {
  return encodeFrame(channel, payload);
}

export function encodeExit(exit: ExecExit): Buffer {
  return encodeFrame(ExecChannel.exit, encodeExitPayload(exit));
}

/** The control's decoder of what the client sends; like every FrameDecoder, it never throws. */
export class ExecFrameDecoder extends FrameDecoder<ExecFrame> {
  constructor() {
    super({
      kind: 'exec',
      maxPayload: MAX_EXEC_FRAME,
      refuseChannel: (channel) => (channel < 1 || channel > 3 ? `unknown exec channel ${channel}` : undefined),
      decode: (channel, payload) => {
        if (channel !== ExecChannel.exit) return { channel: channel as 1 | 2, data: Buffer.from(payload) };
        const exit = parseExit(payload);
        return exit ? { channel, exit } : 'malformed exit frame';
      },
    });
  }
}

/**
 * Control → client: the command's stdin as frames, and its end as a frame of its own rather than a
 * TCP half-close, because an HTTP CONNECT proxy on either side may turn a half-close into a full
 * close (tinyproxy does) and cut the command's output off. An EOF from the control's side before
 * the exit frame ends the session: the client then ends the command (nobody is left to read it).
 */
export const ExecInput = { data: 4, end: 5 } as const;
const MAX_STDIN_FRAME = 64 * 1024;

export function encodeStdin(chunk: Buffer): Buffer {
  return encodeSplit(ExecInput.data, chunk, MAX_STDIN_FRAME);
}

export function encodeStdinEnd(): Buffer {
  return encodeFrame(ExecInput.end, Buffer.alloc(0));
}

export type ExecInputFrame = { end: false; data: Buffer } | { end: true };

/** The client's decoder for stdin frames; like ExecFrameDecoder, it never throws. */
export class ExecInputDecoder extends FrameDecoder<ExecInputFrame> {
  constructor() {
    super({
      kind: 'exec input',
      maxPayload: MAX_EXEC_FRAME,
      refuseChannel: (channel) =>
        channel !== ExecInput.data && channel !== ExecInput.end ? `unknown exec input channel ${channel}` : undefined,
      decode: (channel, payload) =>
        channel === ExecInput.end ? { end: true } : { end: false, data: Buffer.from(payload) },
    });
  }
}
