import { api, type Client } from './api.js';
import { field, openDialog } from './dialog.js';
import { h, replace, setText } from './dom.js';
import { SHELL_WORDS_HINT, shellWords } from './shellWords.js';

/** Requests at once: within the API's per-operator exec budget, and gentle on a fleet. */
export const CONSOLE_PARALLEL = 4;

interface ExecAnswer {
  stdout: string;
  stderr: string;
  code: number | null;
  signal: string | null;
  truncated: boolean;
  timedOut: boolean;
}

/** What one row of the results says, from the API's answer or its refusal. */
export function resultRow(answer: ExecAnswer | { error: string }): { status: string; output: string; ok: boolean } {
  if ('error' in answer) return { status: 'failed', output: answer.error, ok: false };
  const status = answer.timedOut
    ? 'timed out'
    : answer.signal
      ? `killed by ${answer.signal}`
      : `exit ${answer.code ?? '—'}${answer.truncated ? ' (cut at 64 KiB)' : ''}`;
  const text = answer.stdout.trim() ? answer.stdout : answer.stderr;
  const lines = text.split('\n').filter((l) => l.trim());
  return {
    status,
    output: lines.slice(0, 3).join('\n') + (lines.length > 3 ? '\n…' : ''),
    ok: answer.code === 0 && !answer.timedOut,
  };
}

/** Runs `run` on every item, at most `parallel` at once. */
export async function pool<T>(items: T[], parallel: number, run: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await run(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(parallel, items.length) }, worker));
}

/**
 * The Clients tab's "Run on selected" action: a button that counts the ticked clients (the tab's
 * selection, clientSelection.ts, keeps them by id; a client that leaves the list leaves the
 * selection), and the dialog that runs one command on them all with a live results table.
 */
export class RunOnSelected {
  readonly runButton = h('button', { type: 'button', id: 'run-selected', disabled: true }, 'Run on selected');

  constructor(private readonly selected: () => Client[]) {
    this.runButton.addEventListener('click', () => this.openRun());
  }

  /** Called when the selection or the list changes. */
  refresh(): void {
    const n = this.targets().length;
    this.runButton.disabled = n === 0;
    setText(this.runButton, n ? `Run on selected (${n})` : 'Run on selected');
  }

  /** Only clients that allow commands can be ticked; one whose policy changed since is left out. */
  private targets(): Client[] {
    return this.selected().filter((c) => c.allowExec);
  }

  private openRun(): void {
    const targets = this.targets().sort((a, b) => a.name.localeCompare(b.name));
    const command = h('input', { name: 'multi-command', value: 'uname -a', 'aria-label': 'command' });
    const summary = h('p', { class: 'muted', id: 'multi-summary' }, `${targets.length} clients selected`);
    const body = h('tbody');
    const results = h(
      'table',
      { class: 'grid', id: 'multi-results' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['Client', 'Status', 'Output'].map((t) => h('th', {}, t)),
        ),
      ),
      body,
    );
    const run = h('button', { type: 'submit', class: 'primary' }, 'Run');
    const form = h(
      'form',
      { class: 'exec' },
      field(`Run on ${targets.length} clients`, command, SHELL_WORDS_HINT),
      run,
      summary,
      results,
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const parsed = shellWords(command.value);
      if (!parsed.ok) return void (summary.textContent = `not run: ${parsed.error}`);
      if (!parsed.words.length) return;
      run.disabled = true;
      void runAll(targets, parsed.words, body, summary).finally(() => (run.disabled = false));
    });
    openDialog('Run on selected clients', form, [{ label: 'Close' }]);
  }
}

async function runAll(targets: Client[], argv: string[], body: HTMLElement, summary: HTMLElement): Promise<void> {
  const cells = new Map<string, { status: HTMLElement; output: HTMLElement; row: HTMLElement }>();
  replace(
    body,
    targets.map((c) => {
      const status = h('td', { class: 'status' }, 'waiting');
      const output = h('td', {}, h('pre', { class: 'output' }));
      const row = h('tr', { 'data-id': c.id }, h('td', {}, h('strong', {}, c.name)), status, output);
      cells.set(c.id, { status, output, row });
      return row;
    }),
  );
  let done = 0;
  let ok = 0;
  const tally = () =>
    (summary.textContent = `${done} of ${targets.length} done: ${ok} succeeded, ${done - ok} failed${done === targets.length ? '' : '…'}`);
  tally();
  await pool(targets, CONSOLE_PARALLEL, async (client) => {
    const cell = cells.get(client.id)!;
    cell.status.textContent = 'running';
    const answer = await api<ExecAnswer>('POST', '/exec', { client: client.id, command: argv }).catch((err: Error) => ({
      error: err.message,
    }));
    const row = resultRow(answer);
    cell.status.textContent = row.status;
    replace(cell.output, h('pre', { class: 'output' }, row.output));
    cell.row.classList.add(row.ok ? 'ok' : 'failed');
    done++;
    if (row.ok) ok++;
    tally();
  });
}
