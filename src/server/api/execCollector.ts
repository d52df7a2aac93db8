import type { Duplex } from 'node:stream';
import { encodeStdinEnd, ExecChannel, ExecFrameDecoder } from '../../protocol/execFrames.js';

export interface ExecLimits {
  /** Output kept per stream; past it the command is stopped and the result marked truncated. */
  maxOutputBytes: number;
  timeoutMs: number;
}

export const DEFAULT_EXEC_LIMITS: ExecLimits = { maxOutputBytes: 64 * 1024, timeoutMs: 15_000 };

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** The exit code; null when killed by a signal, stopped by a limit, or cut off. */
  code: number | null;
  signal: string | null;
  truncated: boolean;
  timedOut: boolean;
}

/**
 * Runs an exec session to its end and keeps its output, within bounds: an HTTP answer has to fit in
 * memory, so a chatty or endless command is cut at the limit (closing the session stops it on the
 * client) rather than buffered. stdin is closed at once: the API runs commands, not shells.
 */
export function collectExec(far: Duplex, limits: ExecLimits = DEFAULT_EXEC_LIMITS): Promise<ExecResult> {
  return new Promise((resolve) => {
    const decoder = new ExecFrameDecoder();
    const out: Record<'stdout' | 'stderr', Buffer[]> = { stdout: [], stderr: [] };
    const size = { stdout: 0, stderr: 0 };
    let exit: { code: number | null; signal: string | null } | undefined;
    let truncated = false;
    let timedOut = false;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      far.destroy();
      resolve({
        stdout: Buffer.concat(out.stdout).toString('utf8'),
        stderr: Buffer.concat(out.stderr).toString('utf8') + (decoder.error ? `\n[switchboard: ${decoder.error}]` : ''),
        code: exit?.code ?? null,
        signal: exit?.signal ?? null,
        truncated,
        timedOut,
      });
    };
    const timer = setTimeout(() => {
      timedOut = true;
      finish();
    }, limits.timeoutMs);
    far.on('data', (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        if (frame.channel === ExecChannel.exit) {
          exit = frame.exit;
          continue;
        }
        const stream = frame.channel === ExecChannel.stdout ? 'stdout' : 'stderr';
        const room = limits.maxOutputBytes - size[stream];
        out[stream].push(frame.data.subarray(0, Math.max(0, room)));
        size[stream] += Math.min(frame.data.length, Math.max(0, room));
        if (frame.data.length > room) truncated = true;
      }
      if (truncated || decoder.error) finish();
    });
    far.once('error', finish);
    far.once('close', finish);
    far.once('end', finish);
    far.resume();
    far.write(encodeStdinEnd()); // not a half-close, which a proxy before the client may turn into a close
  });
}
