/**
 * The byte stream of an exec session, from client to control: frames of
 * [1 byte channel][4 bytes big-endian length][payload].
 * Channels: stdout, stderr, and exit (payload: a JSON `{ code, signal }`).
 * Control → client is the command's stdin, framed the same way (see ExecInput below).
 */
export const ExecChannel = { stdout: 1, stderr: 2, exit: 3 } as const;
export type ExecChannel = (typeof ExecChannel)[keyof typeof ExecChannel];

export const MAX_EXEC_FRAME = 1024 * 1024;
const HEADER = 5;

export interface ExecExit {
  code: number | null;
  signal: string | null;
}

export type ExecFrame =
  | { channel: typeof ExecChannel.stdout | typeof ExecChannel.stderr; data: Buffer }
  | { channel: typeof ExecChannel.exit; exit: ExecExit };

export function encodeExecFrame(channel: ExecChannel, payload: Buffer): Buffer {
  const header = Buffer.allocUnsafe(HEADER);
  header.writeUInt8(channel, 0);
  header.writeUInt32BE(payload.length, 1);
  return Buffer.concat([header, payload]);
}

export function encodeExit(exit: ExecExit): Buffer {
  return encodeExecFrame(ExecChannel.exit, Buffer.from(JSON.stringify(exit)));
}

/**
 * An incremental decoder: push bytes in any split, get whole frames out. It never throws; a
 * malformed stream puts it in a failed state with the reason.
 */
export class ExecFrameDecoder {
  private buffered: Buffer = Buffer.alloc(0);
  error: string | undefined;

  push(chunk: Buffer): ExecFrame[] {
    if (this.error) return [];
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    const frames: ExecFrame[] = [];
    while (this.buffered.length >= HEADER) {
      const channel = this.buffered.readUInt8(0);
      const length = this.buffered.readUInt32BE(1);
      if (channel < 1 || channel > 3) return this.fail(frames, `unknown exec channel ${channel}`);
      if (length > MAX_EXEC_FRAME) return this.fail(frames, `exec frame of ${length} bytes is over the limit`);
      if (this.buffered.length < HEADER + length) break;
      const payload = this.buffered.subarray(HEADER, HEADER + length);
      this.buffered = this.buffered.subarray(HEADER + length);
      if (channel === ExecChannel.exit) {
        const exit = parseExit(payload);
        if (!exit) return this.fail(frames, 'malformed exit frame');
        frames.push({ channel, exit });
      } else {
        frames.push({ channel: channel as 1 | 2, data: Buffer.from(payload) });
      }
    }
    return frames;
  }

  /** Bytes received that do not yet make a whole frame. */
  get pending(): number {
    return this.buffered.length;
  }

  private fail(frames: ExecFrame[], reason: string): ExecFrame[] {
    this.error = reason;
    this.buffered = Buffer.alloc(0);
    return frames;
  }
}

function parseExit(payload: Buffer): ExecExit | undefined {
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

/**
 * Control → client: the command's stdin as frames, and its end as a frame of its own rather than a
 * TCP half-close, because an HTTP CONNECT proxy on either side may turn a half-close into a full
 * close (tinyproxy does) and cut the command's output off. An EOF from the control's side before
 * the exit frame ends the session: the client then ends the command (nobody is left to read it).
 */
export const ExecInput = { data: 4, end: 5 } as const;
const MAX_STDIN_FRAME = 64 * 1024;

export function encodeStdin(chunk: Buffer): Buffer {
  const frames: Buffer[] = [];
  for (let at = 0; at < chunk.length; at += MAX_STDIN_FRAME) {
    const part = chunk.subarray(at, at + MAX_STDIN_FRAME);
    const header = Buffer.allocUnsafe(HEADER);
    header.writeUInt8(ExecInput.data, 0);
    header.writeUInt32BE(part.length, 1);
    frames.push(header, part);
  }
  return Buffer.concat(frames);
}

export function encodeStdinEnd(): Buffer {
  const header = Buffer.alloc(HEADER);
  header.writeUInt8(ExecInput.end, 0);
  return header;
}

export type ExecInputFrame = { end: false; data: Buffer } | { end: true };

/** The client's decoder for stdin frames; like ExecFrameDecoder, it never throws. */
export class ExecInputDecoder {
  private buffered: Buffer = Buffer.alloc(0);
  error: string | undefined;

  push(chunk: Buffer): ExecInputFrame[] {
    if (this.error) return [];
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    const frames: ExecInputFrame[] = [];
    while (this.buffered.length >= HEADER) {
      const channel = this.buffered.readUInt8(0);
      const length = this.buffered.readUInt32BE(1);
      if (channel !== ExecInput.data && channel !== ExecInput.end)
        return this.fail(frames, `unknown exec input channel ${channel}`);
      if (length > MAX_EXEC_FRAME) return this.fail(frames, `exec input frame of ${length} bytes is over the limit`);
      if (this.buffered.length < HEADER + length) break;
      const payload = this.buffered.subarray(HEADER, HEADER + length);
      this.buffered = this.buffered.subarray(HEADER + length);
      frames.push(channel === ExecInput.end ? { end: true } : { end: false, data: Buffer.from(payload) });
    }
    return frames;
  }

  private fail(frames: ExecInputFrame[], reason: string): ExecInputFrame[] {
    this.error = reason;
    this.buffered = Buffer.alloc(0);
    return frames;
  }
}
