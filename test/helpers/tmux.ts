/**
 * A real terminal for CLI tests: a tmux server of its own (its own socket, so tests never meet a
 * user's tmux) running one command in a window of a known size; keys are sent with send-keys and the
 * screen read with capture-pane. Debian's tmux (.ci/run installs it).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { findTool } from './external.js';
import { waitFor } from './harness.js';

const run = promisify(execFile);

/** Quotes a word for the shell tmux runs its command with. */
export function shellWord(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export class Tmux {
  private readonly tmux = findTool('tmux', 'install it with `apt-get install tmux` (.ci/run does)');
  private readonly socket = `sb-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

  private cmd(args: string[]): Promise<{ stdout: string }> {
    return run(this.tmux, ['-L', this.socket, ...args], { env: this.env });
  }

  constructor(private readonly env: NodeJS.ProcessEnv) {}

  /** Starts `command` (a shell command line) in a detached session named `name`, cols × rows. */
  async start(name: string, command: string, cols: number, rows: number): Promise<void> {
    await this.cmd(['new-session', '-d', '-s', name, '-x', String(cols), '-y', String(rows), command]);
  }

  /** Keys as tmux names them: literal text with `-l`, else key names such as Enter or C-c. */
  async keys(name: string, ...keys: string[]): Promise<void> {
    await this.cmd(['send-keys', '-t', name, ...keys]);
  }

  async type(name: string, text: string): Promise<void> {
    await this.cmd(['send-keys', '-t', name, '-l', text]);
    await this.cmd(['send-keys', '-t', name, 'Enter']);
  }

  async resize(name: string, cols: number, rows: number): Promise<void> {
    await this.cmd(['resize-window', '-t', name, '-x', String(cols), '-y', String(rows)]);
  }

  /** The screen and its scrollback, one string per line, trailing blanks removed. */
  async screen(name: string): Promise<string[]> {
    const { stdout } = await this.cmd(['capture-pane', '-p', '-J', '-S', '-200', '-t', name]);
    return stdout.split('\n').map((l) => l.trimEnd());
  }

  /** Waits until some line of the screen is exactly `line` (or matches it); returns the screen. */
  async waitForLine(name: string, line: string | RegExp, timeoutMs = 15_000): Promise<string[]> {
    const matches = (l: string) => (typeof line === 'string' ? l === line : line.test(l));
    let last: string[] = [];
    try {
      return await waitFor(
        async () => {
          last = await this.screen(name);
          return last.some(matches) && last;
        },
        `a line ${String(line)} on the terminal`,
        timeoutMs,
        100,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}; the screen:\n${last.join('\n')}`, { cause: err });
    }
  }

  async stop(): Promise<void> {
    await this.cmd(['kill-server']).catch(() => undefined);
  }
}
