import { Writable } from 'node:stream';
import type { ControlClient } from './controlClient.js';
import { runExec } from './exec.js';

/** One client's run, as it goes: waiting for a slot, running, then done (exit status) or failed. */
export interface HostRun {
  /** The client's id, which is what the session is opened with (a name may be ambiguous). */
  id: string;
  name: string;
  state: 'waiting' | 'running' | 'done' | 'failed';
  code: number | null;
  signal: string | null;
  /** Why the session could not run the command (refused, client gone...), when state is failed. */
  error?: string;
  stdout: string;
  stderr: string;
  /** Output past maxOutputBytes per stream was dropped (the command still ran to its end). */
  truncated: boolean;
  durationMs: number;
}

export interface MultiExecOptions {
  /** Sessions at once; the rest wait. */
  parallel: number;
  /** Output kept per client and stream: a thousand chatty machines must not fill the operator's memory. */
  maxOutputBytes: number;
  onChange?: (run: HostRun, all: readonly HostRun[]) => void;
}

/** A bound that stays within the server's per-control and per-operator session budgets. */
export const DEFAULT_PARALLEL = 8;
export const MAX_PARALLEL = 16;
export const DEFAULT_MAX_OUTPUT = 64 * 1024;

/** Succeeded: ran and exited with 0. Anything else (a code, a signal, a refusal) counts as failed. */
export function succeeded(run: HostRun): boolean {
  return run.state === 'done' && run.code === 0;
}

/**
 * Runs one command on many clients, at most `parallel` at a time, each as its own exec session
 * (so each is checked by its client's policy and audited like `control exec`). One client failing,
 * refusing or vanishing never stops the others. Resolves with every run, in the order given.
 */
export async function runOnMany(
  control: ControlClient,
  clients: { id: string; name: string }[],
  command: string[],
  options: MultiExecOptions,
): Promise<HostRun[]> {
  const runs: HostRun[] = clients.map((c) => ({
    id: c.id,
    name: c.name,
    state: 'waiting',
    code: null,
    signal: null,
    stdout: '',
    stderr: '',
    truncated: false,
    durationMs: 0,
  }));
  const changed = (run: HostRun) => options.onChange?.(run, runs);
  let next = 0;
  const worker = async () => {
    while (next < runs.length) {
      const run = runs[next++]!;
      run.state = 'running';
      changed(run);
      const startedAt = Date.now();
      const stdout = new BoundedText(options.maxOutputBytes, () => changed(run));
      const stderr = new BoundedText(options.maxOutputBytes, () => changed(run));
      const sync = () => {
        run.stdout = stdout.text;
        run.stderr = stderr.text;
        run.truncated = stdout.truncated || stderr.truncated;
      };
      stdout.onText = stderr.onText = sync;
      try {
        const exit = await runExec(control, run.id, command, { stdout, stderr });
        run.state = 'done';
        run.code = exit.code;
        run.signal = exit.signal;
      } catch (err) {
        run.state = 'failed';
        run.error = (err as Error).message;
      }
      sync();
      run.durationMs = Date.now() - startedAt;
      changed(run);
    }
  };
  const workers = Math.max(1, Math.min(options.parallel, runs.length));
  await Promise.all(Array.from({ length: workers }, worker));
  return runs;
}

/** A sink that keeps the first `limit` bytes as text and drops the rest, never pushing back. */
class BoundedText extends Writable {
  private readonly kept: Buffer[] = [];
  private size = 0;
  truncated = false;
  onText: () => void = () => undefined;

  constructor(
    private readonly limit: number,
    private readonly onData: () => void,
  ) {
    super();
  }

  get text(): string {
    return Buffer.concat(this.kept).toString('utf8');
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    const room = this.limit - this.size;
    if (chunk.length > room) this.truncated = true;
    if (room > 0) {
      const part = chunk.subarray(0, room);
      this.kept.push(part);
      this.size += part.length;
      this.onText();
      this.onData();
    }
    done();
  }
}
