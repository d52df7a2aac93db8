import type { HostRun } from '../control/multiExec.js';
import { table } from './common.js';

/** "exit 0", "exit 3", "killed by SIGTERM", "running", "failed: why" — what the STATUS column says. */
export function statusOf(run: HostRun): string {
  switch (run.state) {
    case 'waiting':
      return 'waiting';
    case 'running':
      return 'running';
    case 'failed':
      return 'failed';
    case 'done':
      return run.signal ? `killed by ${run.signal}` : `exit ${run.code ?? '?'}`;
  }
}

/**
 * The first `lines` lines of what a run printed (stdout, else stderr, else the reason it failed),
 * joined by " ⏎ " so that one client stays one row of the table.
 */
export function firstLines(run: HostRun, lines = 2): string {
  const text = run.error ?? (run.stdout.trim() ? run.stdout : run.stderr);
  const kept = text
    .split('\n')
    .map((l) => l.trimEnd())
    .filter(Boolean);
  const shown = kept.slice(0, lines).join(' ⏎ ');
  return kept.length > lines || run.truncated ? `${shown} …` : shown;
}

/** Cuts a line to the terminal's width, so that a redraw moves up by exactly one line per row. */
function fit(line: string, width: number): string {
  return width > 1 && line.length > width ? `${line.slice(0, width - 1)}…` : line;
}

/** The results table: one row per client, in the order given. Every cell is made printable. */
export function runsTable(runs: HostRun[], width = 0): string {
  const rows = runs.map((r) => [r.name, statusOf(r), firstLines(r)]);
  return table(['CLIENT', 'STATUS', 'OUTPUT'], rows)
    .split('\n')
    .map((l) => fit(l, width))
    .join('\n');
}

/** The last line: how many ran, succeeded and failed. */
export function summaryOf(runs: HostRun[]): string {
  const ok = runs.filter((r) => r.state === 'done' && r.code === 0).length;
  const over = runs.filter((r) => r.state === 'done' || r.state === 'failed').length;
  return `${ok} of ${runs.length} succeeded${over < runs.length ? ` (${runs.length - over} not finished)` : ''}, ${over - ok} failed`;
}

/** The JSON document `exec --json` prints: one object, every run with its whole kept output. */
export function runsJson(command: string[], runs: HostRun[]): string {
  return (
    JSON.stringify(
      {
        command,
        ok: runs.every((r) => r.state === 'done' && r.code === 0),
        results: runs.map((r) => ({
          client: r.id,
          name: r.name,
          status: r.state === 'done' ? 'exited' : r.state,
          code: r.code,
          signal: r.signal,
          error: r.error ?? null,
          stdout: r.stdout,
          stderr: r.stderr,
          truncated: r.truncated,
          durationMs: r.durationMs,
        })),
      },
      null,
      2,
    ) + '\n'
  );
}
