/**
 * The framing that exec and shell sessions share on their byte streams:
 * [1 byte channel][4 bytes big-endian length][payload]. What the channels mean is each session
 * kind's own (execFrames.ts, shellFrames.ts); how bytes become frames, and how a malformed stream
 * is refused, is here once.
 */
export const FRAME_HEADER = 5;

export function encodeFrame(channel: number, payload: Buffer): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER);
  header.writeUInt8(channel, 0);
  header.writeUInt32BE(payload.length, 1);
  return Buffer.concat([header, payload]);
}

/** `chunk` on `channel`, split so that no frame is over `maxPayload`; nothing for an empty chunk. */
export function encodeSplit(channel: number, chunk: Buffer, maxPayload: number): Buffer {
  const frames: Buffer[] = [];
  for (let at = 0; at < chunk.length; at += maxPayload)
    frames.push(encodeFrame(channel, chunk.subarray(at, at + maxPayload)));
  return Buffer.concat(frames);
}

/** How a command or a shell ended: the payload of an exit frame, as JSON. */
export interface ExitStatus {
  code: number | null;
  signal: string | null;
}

export function encodeExitPayload(exit: ExitStatus): Buffer {
  return Buffer.from(JSON.stringify(exit));
}

export function parseExit(payload: Buffer): ExitStatus | undefined {
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

/** What one kind of stream (one direction of one session kind) accepts. */
export interface FrameRules<F> {
  /** Names the stream in errors: `${kind} frame of N bytes is over the limit`. */
  kind: string;
  maxPayload: number;
  /** Checked on the header, before the payload is waited for: the error for a channel refused. */
  refuseChannel(channel: number): string | undefined;
  /** The frame a whole payload makes, or the error that makes the stream malformed. */
  decode(channel: number, payload: Buffer): F | string;
}

/**
 * An incremental decoder: push bytes in any split, get whole frames out. It never throws; a
 * malformed stream puts it in a failed state with the reason, and it takes nothing more.
 */
export class FrameDecoder<F> {
  private buffered: Buffer = Buffer.alloc(0);
  error: string | undefined;

  constructor(private readonly rules: FrameRules<F>) {}

  push(chunk: Buffer): F[] {
    if (this.error) return [];
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    const frames: F[] = [];
    while (this.buffered.length >= FRAME_HEADER) {
      const channel = this.buffered.readUInt8(0);
      const length = this.buffered.readUInt32BE(1);
      const refused = this.rules.refuseChannel(channel);
      if (refused) return this.fail(frames, refused);
      if (length > this.rules.maxPayload)
        return this.fail(frames, `${this.rules.kind} frame of ${length} bytes is over the limit`);
      if (this.buffered.length < FRAME_HEADER + length) break;
      const payload = this.buffered.subarray(FRAME_HEADER, FRAME_HEADER + length);
      this.buffered = this.buffered.subarray(FRAME_HEADER + length);
      const frame = this.rules.decode(channel, payload);
      if (typeof frame === 'string') return this.fail(frames, frame);
      frames.push(frame);
    }
    return frames;
  }

  /** Bytes received that do not yet make a whole frame. */
  get pending(): number {
    return this.buffered.length;
  }

  private fail(frames: F[], reason: string): F[] {
    this.error = reason;
    this.buffered = Buffer.alloc(0);
    return frames;
  }
}
