/**
 * The terminal session's framing (src/protocol/shellFrames.ts), for the browser: the console's
 * files are served flat, so this is a copy in Uint8Array terms. Frames are [1 byte channel]
 * [4 bytes big-endian length][payload]; the page sends input (2) and resize (3), and reads output
 * (1) and exit (4, a JSON `{ code, signal }`).
 */
const CHANNEL = { output: 1, input: 2, resize: 3, exit: 4 } as const;
const HEADER = 5;
const MAX_FRAME = 1024 * 1024;

function frame(channel: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER + payload.length);
  const view = new DataView(out.buffer);
  view.setUint8(0, channel);
  view.setUint32(1, payload.length);
  out.set(payload, HEADER);
  return out;
}

export function inputFrame(bytes: Uint8Array): Uint8Array {
  return frame(CHANNEL.input, bytes.subarray(0, MAX_FRAME));
}

export function resizeFrame(cols: number, rows: number): Uint8Array {
  const payload = new Uint8Array(4);
  const view = new DataView(payload.buffer);
  view.setUint16(0, Math.max(1, Math.min(1000, cols)));
  view.setUint16(2, Math.max(1, Math.min(1000, rows)));
  return frame(CHANNEL.resize, payload);
}

export type TerminalEvent = { output: Uint8Array } | { exit: { code: number | null; signal: string | null } };

/** Push the session's bytes in any split; get output and the exit status out. */
export class TerminalFrameDecoder {
  private buffered = new Uint8Array(0);
  error: string | undefined;

  push(chunk: Uint8Array): TerminalEvent[] {
    if (this.error) return [];
    const joined = new Uint8Array(this.buffered.length + chunk.length);
    joined.set(this.buffered);
    joined.set(chunk, this.buffered.length);
    this.buffered = joined;
    const events: TerminalEvent[] = [];
    while (this.buffered.length >= HEADER) {
      const view = new DataView(this.buffered.buffer, this.buffered.byteOffset);
      const channel = view.getUint8(0);
      const length = view.getUint32(1);
      if ((channel !== CHANNEL.output && channel !== CHANNEL.exit) || length > MAX_FRAME) {
        this.error = `unexpected frame (channel ${channel}, ${length} bytes)`;
        return events;
      }
      if (this.buffered.length < HEADER + length) break;
      const payload = this.buffered.slice(HEADER, HEADER + length);
      this.buffered = this.buffered.slice(HEADER + length);
      if (channel === CHANNEL.output) events.push({ output: payload });
      else
        events.push({
          exit: JSON.parse(new TextDecoder().decode(payload)) as { code: number | null; signal: string | null },
        });
    }
    return events;
  }
}
