import { encodeExitPayload, encodeFrame, encodeSplit, FrameDecoder, parseExit, type ExitStatus } from './frames.js';

/**
 * The byte stream of a shell session (an interactive terminal on the client), in the framing exec
 * sessions use too (frames.ts): [1 byte channel][4 bytes big-endian length][payload].
 *
 * Control → client: `input` (keystrokes, raw bytes for the terminal) and `resize` (payload: cols and
 * rows, two big-endian uint16). Client → control: `output` (what the terminal shows) and `exit`
 * (payload: a JSON `{ code, signal }`, then the client half-closes). Ctrl-C is just the byte 0x03 on
 * `input`: the client's pseudo-terminal turns it into SIGINT for whatever runs in the foreground.
 *
 * The console's terminal page speaks the same framing from the browser (src/console/terminalFrames.ts
 * keeps its own copy, since the console's files are served flat and cannot import this one).
 */
export const ShellChannel = { output: 1, input: 2, resize: 3, exit: 4 } as const;
export type ShellChannel = (typeof ShellChannel)[keyof typeof ShellChannel];

export const MAX_SHELL_FRAME = 1024 * 1024;
/** Window sizes outside this are refused as malformed: no terminal is that large. */
export const MAX_SHELL_DIMENSION = 1000;

export type ShellExit = ExitStatus;

export interface WindowSize {
  cols: number;
  rows: number;
}

export type ShellFrame =
  | { channel: typeof ShellChannel.output | typeof ShellChannel.input; data: Buffer }
  | { channel: typeof ShellChannel.resize; size: WindowSize }
  | { channel: typeof ShellChannel.exit; exit: ShellExit };

export function encodeShellFrame(channel: ShellChannel, payload: Buffer): Buffer {
  return encodeFrame(channel, payload);
}

/** Keystrokes (or pasted text) for the terminal, split so that no frame is over the limit. */
export function encodeShellInput(chunk: Buffer): Buffer {
  return encodeSplit(ShellChannel.input, chunk, MAX_SHELL_FRAME);
}

export function encodeShellOutput(chunk: Buffer): Buffer {
  return encodeSplit(ShellChannel.output, chunk, MAX_SHELL_FRAME);
}

export function encodeResize(size: WindowSize): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt16BE(clampDimension(size.cols), 0);
  payload.writeUInt16BE(clampDimension(size.rows), 2);
  return encodeFrame(ShellChannel.resize, payload);
}

export function encodeShellExit(exit: ShellExit): Buffer {
  return encodeFrame(ShellChannel.exit, encodeExitPayload(exit));
}

function clampDimension(n: number): number {
  return Math.max(1, Math.min(MAX_SHELL_DIMENSION, Math.floor(n) || 1));
}

/**
 * An incremental decoder for one direction (FrameDecoder: it never throws). A channel the other
 * direction uses puts it in a failed state, so a control cannot send `output` and a client cannot
 * send `resize`.
 */
export class ShellFrameDecoder extends FrameDecoder<ShellFrame> {
  constructor(accepts: ReadonlySet<ShellChannel>) {
    super({
      kind: 'shell',
      maxPayload: MAX_SHELL_FRAME,
      refuseChannel: (channel) =>
        accepts.has(channel as ShellChannel) ? undefined : `unexpected shell channel ${channel}`,
      decode: decodeShellPayload,
    });
  }

  /** The client's decoder: what a control may send. */
  static fromControl(): ShellFrameDecoder {
    return new ShellFrameDecoder(new Set([ShellChannel.input, ShellChannel.resize]));
  }

  /** The control's decoder: what a client may send. */
  static fromClient(): ShellFrameDecoder {
    return new ShellFrameDecoder(new Set([ShellChannel.output, ShellChannel.exit]));
  }
}

function decodeShellPayload(channel: number, payload: Buffer): ShellFrame | string {
  if (channel === ShellChannel.resize) {
    const size = parseSize(payload);
    return size ? { channel, size } : 'malformed resize frame';
  }
  if (channel === ShellChannel.exit) {
    const exit = parseExit(payload);
    return exit ? { channel, exit } : 'malformed exit frame';
  }
  return { channel: channel as typeof ShellChannel.output | typeof ShellChannel.input, data: Buffer.from(payload) };
}

function parseSize(payload: Buffer): WindowSize | undefined {
  if (payload.length !== 4) return undefined;
  const cols = payload.readUInt16BE(0);
  const rows = payload.readUInt16BE(2);
  if (cols < 1 || rows < 1 || cols > MAX_SHELL_DIMENSION || rows > MAX_SHELL_DIMENSION) return undefined;
  return { cols, rows };
}
