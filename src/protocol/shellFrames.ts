/**
 * The byte stream of a shell session (an interactive terminal on the client), framed like an exec
 * session (execFrames.ts): [1 byte channel][4 bytes big-endian length][payload].
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
const HEADER = 5;

export interface ShellExit {
  code: number | null;
  signal: string | null;
}

export interface WindowSize {
  cols: number;
  rows: number;
}

export type ShellFrame =
  | { channel: typeof ShellChannel.output | typeof ShellChannel.input; data: Buffer }
  | { channel: typeof ShellChannel.resize; size: WindowSize }
  | { channel: typeof ShellChannel.exit; exit: ShellExit };

export function encodeShellFrame(channel: ShellChannel, payload: Buffer): Buffer {
  const header = Buffer.allocUnsafe(HEADER);
  header.writeUInt8(channel, 0);
  header.writeUInt32BE(payload.length, 1);
  return Buffer.concat([header, payload]);
}

/** Keystrokes (or pasted text) for the terminal, split so that no frame is over the limit. */
export function encodeShellInput(chunk: Buffer): Buffer {
  const frames: Buffer[] = [];
  for (let at = 0; at < chunk.length; at += MAX_SHELL_FRAME)
    frames.push(encodeShellFrame(ShellChannel.input, chunk.subarray(at, at + MAX_SHELL_FRAME)));
  return Buffer.concat(frames);
}

export function encodeShellOutput(chunk: Buffer): Buffer {
  const frames: Buffer[] = [];
  for (let at = 0; at < chunk.length; at += MAX_SHELL_FRAME)
    frames.push(encodeShellFrame(ShellChannel.output, chunk.subarray(at, at + MAX_SHELL_FRAME)));
  return Buffer.concat(frames);
}

export function encodeResize(size: WindowSize): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt16BE(clampDimension(size.cols), 0);
  payload.writeUInt16BE(clampDimension(size.rows), 2);
  return encodeShellFrame(ShellChannel.resize, payload);
}

export function encodeShellExit(exit: ShellExit): Buffer {
  return encodeShellFrame(ShellChannel.exit, Buffer.from(JSON.stringify(exit)));
}

function clampDimension(n: number): number {
  return Math.max(1, Math.min(MAX_SHELL_DIMENSION, Math.floor(n) || 1));
}

/**
 * An incremental decoder for one direction: push bytes in any split, get whole frames out. It never
 * throws; a malformed stream, or a channel the other direction uses, puts it in a failed state with
 * the reason (so a control cannot send `output` and a client cannot send `resize`).
 */
export class ShellFrameDecoder {
  private buffered: Buffer = Buffer.alloc(0);
  error: string | undefined;

  constructor(private readonly accepts: ReadonlySet<ShellChannel>) {}

  /** The client's decoder: what a control may send. */
  static fromControl(): ShellFrameDecoder {
    return new ShellFrameDecoder(new Set([ShellChannel.input, ShellChannel.resize]));
  }

  /** The control's decoder: what a client may send. */
  static fromClient(): ShellFrameDecoder {
    return new ShellFrameDecoder(new Set([ShellChannel.output, ShellChannel.exit]));
  }

  push(chunk: Buffer): ShellFrame[] {
    if (this.error) return [];
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    const frames: ShellFrame[] = [];
    while (this.buffered.length >= HEADER) {
      const channel = this.buffered.readUInt8(0) as ShellChannel;
      const length = this.buffered.readUInt32BE(1);
      if (!this.accepts.has(channel)) return this.fail(frames, `unexpected shell channel ${channel}`);
      if (length > MAX_SHELL_FRAME) return this.fail(frames, `shell frame of ${length} bytes is over the limit`);
      if (this.buffered.length < HEADER + length) break;
      const payload = this.buffered.subarray(HEADER, HEADER + length);
      this.buffered = this.buffered.subarray(HEADER + length);
      if (channel === ShellChannel.resize) {
        const size = parseSize(payload);
        if (!size) return this.fail(frames, 'malformed resize frame');
        frames.push({ channel, size });
      } else if (channel === ShellChannel.exit) {
        const exit = parseExit(payload);
        if (!exit) return this.fail(frames, 'malformed exit frame');
        frames.push({ channel, exit });
      } else {
        frames.push({ channel, data: Buffer.from(payload) });
      }
    }
    return frames;
  }

  private fail(frames: ShellFrame[], reason: string): ShellFrame[] {
    this.error = reason;
    this.buffered = Buffer.alloc(0);
    return frames;
  }
}

function parseSize(payload: Buffer): WindowSize | undefined {
  if (payload.length !== 4) return undefined;
  const cols = payload.readUInt16BE(0);
  const rows = payload.readUInt16BE(2);
  if (cols < 1 || rows < 1 || cols > MAX_SHELL_DIMENSION || rows > MAX_SHELL_DIMENSION) return undefined;
  return { cols, rows };
}

function parseExit(payload: Buffer): ShellExit | undefined {
  try {
    const value = JSON.parse(payload.toString('utf8')) as unknown;
    if (typeof value !== 'object' || value === null) return undefined;
    const { code, signal } = value as Record<string, unknown>;
    if (code !== null && !(typeof code === 'number' && Number.isInteger(code))) return undefined;
    if (signal !== null && typeof signal !== 'string') return undefined;
    return { code: code as number | null, signal: signal as string | null };
  } catch {
    return undefined;
  }
}
